# A tiny ReCon (CLIP setting) for end-to-end tests on CPU; the tests pass the random CLIP file
# (model.img_teacher / text_teacher / test_evaluator.text_teacher .checkpoint).
_base_ = ['../../configs/recon_clip_pretrain_demo.py']

model = dict(
    backbone=dict(embed_dims=32, depth=2, num_heads=2, num_groups=16, group_size=8),
    neck=dict(depth=1, num_heads=2))
num_points = 128
meta_keys = ('sample_idx', 'pc_path', 'category', 'category_name', 'img_path', 'text')
train_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points),
    dict(type='NormalizeToUnitSphere'),
    dict(type='LoadRenderedImage', to_rgb=False),  # BGR, as the base's (channel_order='bgr')
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandomResizedCrop', scale=224, crop_ratio_range=(0.64, 1.0),
         interpolation='bicubic'),
    dict(type='RandomTextPrompt'),
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadPointCloudNpy'),
        dict(type='PointSubsample', num_points=num_points, method='fps'),
        dict(type='NormalizeToUnitSphere'),
        dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'category')),
    ]))
# cosine only (a run of one epoch has no room for warm-up); it ends at max_epochs
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
# no SVM probe here (tests/configs/tiny_point_mae.py carries the tiny one)
val_cfg = None
val_dataloader = None
val_evaluator = None
