# A tiny concept distillation for end-to-end tests on CPU; the tests pass the data root and the
# random CLIP / ClipCap files (model.img_teacher.clip.checkpoint, model.img_teacher.checkpoint).
_base_ = [
    '../../configs/concept_distill/concept-distill_clipcap-mlp_1xb4-10e_scannet-frames-demo.py'
]

model = dict(
    backbone=dict(embed_dims=32, depth=2, num_heads=2, num_groups=16, group_size=8),
    neck=dict(num_queries=4, num_heads=2),
    head=dict(hidden_dims=32))
num_points = 512
meta_keys = {{_base_.meta_keys}}
img_test_pipeline = [
    dict(type='LoadFrameImage', to_rgb=True),
    dict(type='ResizeCropFrameImage', size=224, interpolation='bicubic'),
]
train_pipeline = [
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    *img_test_pipeline,
    dict(type='ProjectPointsToImage'),
    dict(type='CentrePoints'),
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    *img_test_pipeline,
    dict(type='ProjectPointsToImage'),
    dict(type='CentrePoints'),
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=meta_keys),
]
train_dataloader = dict(num_workers=0, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=0, dataset=dict(pipeline=test_pipeline))
train_cfg = dict(max_epochs=1, val_interval=1)
# cosine only (a run of one epoch has no room for warm-up); it ends at max_epochs
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
                        convert_to_iter_based=True)]
