# ScanObjectNN classification as the reference runners (2048 points per object, all of them:
# the runners' FPS of 2048 of the 2048 points and the random 2048 of those is a shuffle, which
# moves the FPS start of the grouping); no normalisation (the h5 clouds are prepared); the
# method's augmentation; test: the clouds as stored. Leaf configs set `variant` of both splits:
# 'OBJ_BG', 'OBJ_ONLY' or 'PB_T50_RS' (the hardest).
dataset_type = 'ScanObjectNNDataset'
data_root = 'data/ScanObjectNN/'
num_points = 2048

pack = dict(type='PackPointClsInputs')
rotate_train_pipeline = [
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='RandomRotateUpAxis', up_axis=1, angle_range=(0., 6.283185307179586)),
    pack,
]
scale_translate_train_pipeline = [
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    pack,
]
test_pipeline = [pack]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 variant='PB_T50_RS', pipeline=scale_translate_train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', variant='PB_T50_RS',
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
test_evaluator = val_evaluator
