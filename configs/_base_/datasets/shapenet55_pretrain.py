# ShapeNet-55 object pre-training data (Point-BERT layout, see pt3kd_mm/datasets/shapenet55.py).
dataset_type = 'ShapeNet55Dataset'
data_root = 'data/ShapeNet55-34/'
num_points = 1024
meta_keys = ('sample_idx', 'pc_path', 'category', 'category_name')

train_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=meta_keys),
]
# the same without augmentation (ACT stage 1 trains on the plain clouds, as its reference)
train_pipeline_no_aug = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points, method='fps'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=meta_keys),
]

# Point-MAE / ACT use no class names (no prompts): synset ids name the classes, so the
# Point-BERT data needs no names file (ReCon's base reads shapenet55.json)
names_file = None
# batch 128 on one process, as the reference; with N processes set batch_size=128 // N
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ShapeNet-55/train.txt',
        names_file=names_file,
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ShapeNet-55/test.txt',
        names_file=names_file,
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(type='MaskedReconstructionMetric')
