# The Point-MAE segmentor on the synthetic demo rooms (python tools/create_demo_data.py
# --scannet): the full network and pipeline on a few rooms, for a CPU run end to end (train,
# SegMetric validation, tools/test.py, tools/dist_train.sh ... 2); not a benchmark. The encoder
# starts from the demo pre-training (bash tools/run_demo.sh); with no such file, pass
# --cfg-options model.backbone.init_cfg=None. Only 8 of the 20 classes occur in the demo rooms;
# SegMetric's mIoU averages the classes present.
_base_ = ['./pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py']
data_root = 'data/scannet_demo/'
pretrained = 'work_dirs/point_mae_pretrain_demo/epoch_20.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root,
                 scene_idxs=data_root + 'seg_info/train_resampled_scene_idxs.npy'))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=10, val_interval=5)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=5))
