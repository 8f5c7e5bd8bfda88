# Tiny ACT stage 2 for end-to-end tests; the test passes both teacher checkpoints.
_base_ = ['../../configs/act_pretrain.py']

model = dict(
    backbone=dict(embed_dims=32, depth=2, num_heads=2, num_groups=16, group_size=8),
    neck=dict(depth=1, num_heads=2),
    teacher=dict(model=dict(
        embed_dims=24, num_groups=16, group_size=8, num_tokens=64, num_prompts=4,
        vit_blocks=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2,
                                  feedforward_channels=64)))))
_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=128),
    dict(type='NormalizeToUnitSphere'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'pc_path')),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(pipeline=_pipeline))
# cosine only (a run of one epoch has no room for warm-up); it ends at max_epochs
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
# no SVM probe here (tests/configs/tiny_point_mae.py carries the tiny one)
val_cfg = None
val_dataloader = None
val_evaluator = None
