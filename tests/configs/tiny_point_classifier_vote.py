# tiny_point_classifier.py tested with 4 votes (a random 192 of the FPS 224 per view, random
# scale + shift), as configs/classification/point_mae_finetune_modelnet40-1k_vote.py.
_base_ = ['./tiny_point_classifier.py']

model = dict(vote=dict(num_votes=4, num_points=192, scale_range=(2. / 3., 3. / 2.),
                       translate_range=0.2))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPointCloudNpy'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=224, method='fps'),
    dict(type='PackPointClsInputs'),
]))
