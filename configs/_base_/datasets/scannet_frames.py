# Paired ScanNet v2 RGB-D frames for concept distillation (pt3kd_mm/datasets/scannet_frames.py),
# written by tools/dataset_converters/scannet_frames.py (every 25th frame, ~100k pairs): per
# pair the frame's depth back-projected (metres, depth camera frame) and its colour image.
# The cloud: 4096 points, centred at its centroid (metric scale kept), the paper's scale +
# translate augmentation; the image: CLIP's geometry (short edge 224, bicubic, centre crop),
# RGB 0-255 (the image teacher normalises it); each point's position in that image
# (points_uv / points_in_image, before the augmentation) for the local-alignment ablation.
dataset_type = 'ScanNetFramePairDataset'
data_root = 'data/scannet_frames/'
num_points = 4096
img_size = 224
meta_keys = ('sample_idx', 'scene_id', 'frame_id', 'pc_path', 'img_path', 'points_uv',
             'points_in_image')

# the image exactly as every pipeline below gives it to the teacher (also what
# tools/cache_teacher_features.py runs the teacher on: the images are not augmented)
img_test_pipeline = [
    dict(type='LoadFrameImage', to_rgb=True),
    dict(type='ResizeCropFrameImage', size=img_size, interpolation='bicubic'),
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
# held-out frames: the same without augmentation (random subsample: set randomness.seed)
test_pipeline = [
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    *img_test_pipeline,
    dict(type='ProjectPointsToImage'),
    dict(type='CentrePoints'),
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=meta_keys),
]
# batch 128 on one process, as the lineage's pre-training; with N processes set
# batch_size=128 // N
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='scannet_frames_infos_train.pkl',
        pipeline=train_pipeline))
# the distillation error on the val scenes' frames (tools/test.py)
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='scannet_frames_infos_val.pkl',
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(type='DistillationErrorMetric')
