# A tiny part segmentor for end-to-end tests on CPU: the Point-MAE part-segmentation config with
# toy sizes, no pre-trained encoder, 256 points per shape, the data root set by the test.
_base_ = ['../../configs/part_segmentation/point_mae_partseg_shapenetpart.py']

model = dict(
    backbone=dict(embed_dims=32, depth=3, num_heads=2, num_groups=16, group_size=8,
                  drop_path_rate=0.0, out_indices=(0, 1, 2), init_cfg=None),
    decode_head=dict(label_channels=16, fp_channels=(64, 64), channels=(64, 32)))
num_points = 256
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadShapeNetPartPoints'),
        dict(type='NormalizeToUnitSphere'),
        dict(type='PointSubsample', num_points=num_points, replace=True),
        dict(type='RandomScaleTranslate', scale_range=(0.8, 1.25), translate_range=0.1,
             per_axis_scale=False),
        dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'],
             meta_keys={{_base_.meta_keys}}),
    ]))
test_pipeline = [
    dict(type='LoadShapeNetPartPoints'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_points, replace=True),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'],
         meta_keys={{_base_.meta_keys}}),
]
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                       dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=30, val_interval=30)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=30, save_best=None))
