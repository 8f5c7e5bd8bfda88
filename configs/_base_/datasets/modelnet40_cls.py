# ModelNet40 classification as the reference runners: the preprocessed
# modelnet40_{split}_8192pts_fps.dat (FPS of the .txt clouds), each cloud centred and scaled to
# the unit sphere; training: shuffle, FPS 1200, a random 1024 of them, then the method's
# augmentation; testing on the test split: FPS 1024 from point 0. Voting (tools/test.py with a
# *_vote config) feeds the FPS 1200 and lets the model draw 1024 per view.
# Without the .dat files: processed_file=None reads the .txt files (10,000 points; the FPS then
# runs on them, a small deviation).
dataset_type = 'ModelNet40PointDataset'
data_root = 'data/ModelNet/modelnet40_normal_resampled/'
processed_file = 'modelnet{num_categories}_{split}_8192pts_fps.dat'
num_points = 1024
num_candidates = 1200  # the runners' point_all for 1024 points

pack = dict(type='PackPointClsInputs')
scale_translate_train_pipeline = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='FPSRandomSubsample', num_points=num_points, num_candidates=num_candidates),
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    pack,
]
rotate_train_pipeline = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='FPSRandomSubsample', num_points=num_points, num_candidates=num_candidates),
    dict(type='RandomRotateUpAxis', up_axis=1, angle_range=(0., 6.283185307179586)),
    pack,
]
test_pipeline = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_points, method='fps'),
    pack,
]
vote_test_pipeline = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_candidates, method='fps'),
    pack,
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        processed_file=processed_file,
        pipeline=scale_translate_train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        processed_file=processed_file,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
test_evaluator = val_evaluator
