# A tiny Point-MAE for end-to-end tests on CPU: same code paths, toy sizes.
_base_ = ['../../configs/point_mae_pretrain_demo.py']

model = dict(
    backbone=dict(embed_dims=32, depth=2, num_heads=2, num_groups=16, group_size=8),
    neck=dict(depth=1, num_heads=2))
num_points = 128
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadPointCloudNpy'),
        dict(type='PointSubsample', num_points=num_points),
        dict(type='NormalizeToUnitSphere'),
        dict(type='RandomScaleTranslate'),
        dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'pc_path')),
    ]))
test_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadPointCloudNpy'),
        dict(type='PointSubsample', num_points=num_points, method='fps'),
        dict(type='NormalizeToUnitSphere'),
        dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'pc_path')),
    ]))
# cosine only (a run of one epoch has no room for warm-up); it ends at max_epochs
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
# the SVM probe (inherited from the demo: demo train split -> fit, test split -> score), on
# tiny clouds; tests set the data roots of val_dataloader and val_cfg.svm_train_dataloader
_probe_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points, method='fps'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'category')),
]
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=_probe_pipeline))
val_cfg = dict(svm_train_dataloader=dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=_probe_pipeline)))
