# tiny_recon trained from teacher feature caches: no image is loaded and no teacher runs.
# The tests pass the cache folders (img_cache / text_cache below) and teacher checkpoints.
_base_ = ['./tiny_recon.py']

img_cache = 'work_dirs/tiny_recon_cache/img'
text_cache = 'work_dirs/tiny_recon_cache/text'
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=128),
    dict(type='NormalizeToUnitSphere'),
    dict(type='RandomTextPrompt'),
    dict(type='LoadTeacherFeatures', cache_dir=img_cache, key='img_path', out_key='img_target'),
    dict(type='LoadTeacherFeatures', cache_dir=text_cache, key='text', out_key='text_target'),
    dict(type='Pack3DDetInputs', keys=['points'],
         meta_keys=('sample_idx', 'pc_path', 'category', 'text', 'img_target',
                    'img_target_cache', 'text_target', 'text_target_cache')),
]))
