# configs/classification/point_mae_fewshot_modelnet40.py at toy sizes (tools/fewshot.py sets
# the folds); the fold files hold the clouds, so the pipelines start without a loader.
_base_ = ['../../configs/classification/point_mae_fewshot_modelnet40.py']

model = dict(
    backbone=dict(embed_dims=32, depth=1, num_heads=2, num_groups=16, group_size=16,
                  drop_path_rate=0.0, init_cfg=None),
    head=dict(num_classes=40))
_train = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='FPSRandomSubsample', num_points=256, num_candidates=300),
    dict(type='RandomScaleTranslate'),
    dict(type='PackPointClsInputs'),
]
_test = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=256, method='fps'),
    dict(type='PackPointClsInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=_train))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=_test))
test_dataloader = val_dataloader
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=2))
