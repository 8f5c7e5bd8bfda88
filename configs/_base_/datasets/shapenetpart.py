# ShapeNetPart part segmentation (shapenetcore_partanno_segmentation_benchmark_v0_normal layout,
# see pt3kd_mm/datasets/shapenet_part.py), as the Point-MAE / ACT / ReCon segmentation scripts:
# xyz only, unit sphere on the whole shape, then 2048 points drawn WITH replacement (train and
# test alike); training adds one random scale in [0.8, 1.25] for all axes and a shift in
# [-0.1, 0.1] per axis. Train on train + val ('trainval'), evaluate on 'test'.
dataset_type = 'ShapeNetPartDataset'
data_root = 'data/shapenetcore_partanno_segmentation_benchmark_v0_normal/'
num_points = 2048
meta_keys = ('sample_idx', 'pc_path', 'category', 'category_name', 'shape_id')

train_pipeline = [
    dict(type='LoadShapeNetPartPoints'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_points, replace=True),
    dict(type='RandomScaleTranslate', scale_range=(0.8, 1.25), translate_range=0.1,
         per_axis_scale=False),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'], meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadShapeNetPartPoints'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_points, replace=True),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'], meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='trainval',
                 pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True,
                 pipeline=test_pipeline))
# the reference scripts evaluate the test split after every epoch and report the best epoch
val_dataloader = test_dataloader
test_evaluator = dict(type='ShapeNetPartMetric')
val_evaluator = test_evaluator
