# configs/recon_pretrain.py trained from teacher feature caches: the teachers run once, before
# training, instead of on every step; no image is loaded during training.
#   python tools/cache_teacher_features.py configs/recon_pretrain.py --teacher img \
#       --out data/ShapeNet55-34/teacher_cache/img_vit_b16_in21k
#   python tools/cache_teacher_features.py configs/recon_pretrain.py --teacher text \
#       --out data/ShapeNet55-34/teacher_cache/text_clip_b32
#   python tools/train.py configs/recon_pretrain_cached.py
# The image cache holds the augmentation-free view of each shape (the online pipeline augments
# the view every epoch); the text cache holds every (class, template) prompt, so the random
# template is kept. ReCon checks that each cache was made by model.img_teacher /
# model.text_teacher (config and checkpoint sha256) and refuses another.
_base_ = ['./recon_pretrain.py']

img_cache = 'data/ShapeNet55-34/teacher_cache/img_vit_b16_in21k'
text_cache = 'data/ShapeNet55-34/teacher_cache/text_clip_b32'
num_points = {{_base_.num_points}}
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='RandomRotateUpAxis', up_axis=1, angle_range=(0., 6.283185307179586)),  # [0, 2pi)
    dict(type='RandomTextPrompt'),
    dict(type='LoadTeacherFeatures', cache_dir=img_cache, key='img_path', out_key='img_target'),
    dict(type='LoadTeacherFeatures', cache_dir=text_cache, key='text', out_key='text_target'),
    dict(type='Pack3DDetInputs', keys=['points'],
         meta_keys=('sample_idx', 'pc_path', 'category', 'category_name', 'text', 'img_target',
                    'img_target_cache', 'text_target', 'text_target_cache')),
]))
