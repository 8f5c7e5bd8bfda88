# ModelNet40 with 8192 points (the reference's finetune_modelnet_8k): the whole preprocessed
# cloud; training shuffles it (the runners' FPS of 8192 of 8192 points and the random 8192 of
# those), testing feeds it as stored.
_base_ = ['./modelnet40_cls.py']

num_points = 8192
scale_translate_train_pipeline = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    dict(type='PackPointClsInputs'),
]
rotate_train_pipeline = [
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='RandomRotateUpAxis', up_axis=1, angle_range=(0., 6.283185307179586)),
    dict(type='PackPointClsInputs'),
]
test_pipeline = [dict(type='NormalizeToUnitSphere'), dict(type='PackPointClsInputs')]
vote_test_pipeline = test_pipeline
train_dataloader = dict(dataset=dict(pipeline=scale_translate_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
