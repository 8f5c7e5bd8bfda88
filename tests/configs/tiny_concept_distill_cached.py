# tests/configs/tiny_concept_distill.py trained from a teacher feature cache (the test passes
# train_dataloader.dataset.pipeline.3.cache_dir).
_base_ = ['./tiny_concept_distill.py']

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points={{_base_.num_points}}, method='random'),
    dict(type='CentrePoints'),
    dict(type='LoadTeacherFeatures', cache_dir='UNSET', key='img_path', out_key='img_target'),
    dict(type='Pack3DDetInputs', keys=['points'],
         meta_keys=('sample_idx', 'scene_id', 'frame_id', 'img_path', 'img_target',
                    'img_target_cache')),
]))
val_cfg = None
val_dataloader = None
val_evaluator = None
