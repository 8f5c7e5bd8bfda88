# A tiny 3DETR for end-to-end tests on CPU: the project's code paths and mmdet3d's dataset,
# transforms and IndoorMetric, toy sizes; trains and validates on the same demo rooms (an
# over-fit check), no augmentation.
_base_ = ['../../projects/ThreeDETR/configs/threedetr_3detr-enc_8xb8-1080e_scannet-3d.py']

data_root = 'data/scannet_demo/'
num_points = 4096
model = dict(
    backbone=dict(num_points=256, num_samples=32, embed_dims=64, depth=1, num_heads=4,
                  ffn_dims=64, dropout=0.0),
    bbox_head=dict(embed_dims=64, num_queries=32, num_decoder_layers=2, ffn_dims=64,
                   dropout=0.0, mlp_dropout=0.0))
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, load_dim=6,
         use_dim=[0, 1, 2]),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalAlignment', rotation_axis=2),
    dict(type='PointSample', num_points=num_points),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, load_dim=6,
         use_dim=[0, 1, 2]),
    dict(type='GlobalAlignment', rotation_axis=2),
    dict(type='PointSample', num_points=num_points),
    dict(type='Pack3DDetInputs', keys=['points'])
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(times=600, dataset=dict(data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='scannet_infos_train.pkl',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
# two rooms, batch 2: 600 iterations (about 2-3 minutes on 2 CPU cores)
optim_wrapper = dict(optimizer=dict(lr=2e-3), clip_grad=None)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1))
