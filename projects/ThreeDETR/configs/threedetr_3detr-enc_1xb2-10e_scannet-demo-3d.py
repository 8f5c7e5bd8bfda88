# The 3DETR baseline on the synthetic demo rooms (python tools/create_demo_data.py --scannet):
# the reference network and pipeline on a few rooms, for a CPU run end to end (train, validate
# with IndoorMetric, test, dist_train.sh); not a benchmark. Only 6 of the 18 classes occur
# in the demo rooms, so IndoorMetric's mAP (a mean over all 18) is nan there: read the
# per-class APs.
_base_ = ['./threedetr_3detr-enc_8xb8-1080e_scannet-3d.py']

data_root = 'data/scannet_demo/'
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root)))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=10, val_interval=5)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=5))
