# ShapeNet-55 with the rendered view and a category prompt of each shape (ReCon pre-training).
# Views: <data_root>/shapenet_img/<synset>-<id>.png (ShapeNet55Dataset puts them in img_path);
# class names for the prompts: <data_root>/shapenet55.json (ReCon's layout) or
# ShapeNet-55/taxonomy.json; a synset without a name is an error.
# Views stay uint8 (0-255) in BGR, as the reference reads them (cv2.imread, no conversion):
# each image teacher normalises its input itself and declares the channel order it is given
# (channel_order='bgr'; tools/train.py refuses a teacher whose channel_order differs from
# LoadRenderedImage's). The ViT teacher gets the views in BGR with ImageNet's statistics, as
# the reference does, and so does the CLIP image teacher of configs/recon_clip_pretrain.py
# (network_channel_order=None); CLIPImageTeacher's own default turns BGR into the RGB its
# weights were trained on.
# RGB views: to_rgb=True here and channel_order='rgb' on the image teacher.
_base_ = ['./shapenet55_pretrain.py']

num_points = {{_base_.num_points}}
image_size = 224
to_rgb = False
meta_keys = ('sample_idx', 'pc_path', 'category', 'category_name', 'img_path', 'text', 'flip')

# The reference's RandAugmentMC(n=2, m=10) of FixMatch, as mmpretrain policies: two of these
# 14 ops, each applied with p=0.5 at a magnitude drawn uniformly in FixMatch's range (its
# v ~ randint(1, 10) mapped as in FixMatch: enhance factors 0.05 + 0.09 v (< 1), posterize
# 4 + 0.4 v bits, rotate 3 v degrees, shear / translate 0.03 v, solarize at 256 - 25.6 v),
# black fill for geometric ops as PIL's default; then a 16 x 16 grey cutout, always.
# Sub-policy types carry the 'mmpretrain.' scope: they are built under default_scope mmdet3d.
fixmatch_enhance = dict(magnitude_range=(-0.86, -0.14), random_negative_prob=0.)  # factor 1 + m
fixmatch_geometric = dict(pad_val=0, interpolation='nearest')
fixmatch_policies = [
    dict(type='mmpretrain.AutoContrast'),
    dict(type='mmpretrain.Brightness', **fixmatch_enhance),
    dict(type='mmpretrain.ColorTransform', **fixmatch_enhance),
    dict(type='mmpretrain.Contrast', **fixmatch_enhance),
    dict(type='mmpretrain.Equalize'),
    dict(type='Compose', transforms=[]),  # identity
    dict(type='mmpretrain.Posterize', magnitude_range=(3, 7)),  # ceil -> 4..7 bits
    dict(type='mmpretrain.Rotate', magnitude_range=(3, 27), **fixmatch_geometric),
    dict(type='mmpretrain.Sharpness', **fixmatch_enhance),
    dict(type='mmpretrain.Shear', magnitude_range=(0.03, 0.27), direction='horizontal',
         **fixmatch_geometric),
    dict(type='mmpretrain.Shear', magnitude_range=(0.03, 0.27), direction='vertical',
         **fixmatch_geometric),
    dict(type='mmpretrain.Solarize', magnitude_range=(26, 231)),
    dict(type='mmpretrain.Translate', magnitude_range=(0.03, 0.27), direction='horizontal',
         **fixmatch_geometric),
    dict(type='mmpretrain.Translate', magnitude_range=(0.03, 0.27), direction='vertical',
         **fixmatch_geometric),
]

# reference: resize to 256 x 256, flip, RandomResizedCrop(224, scale=(0.64, 1), bicubic),
# RandAugmentMC(2, 10), to tensor (normalising is the teacher's job here, see above)
train_image_pipeline = [
    dict(type='LoadRenderedImage', to_rgb=to_rgb),
    dict(type='Resize', scale=(256, 256), keep_ratio=False, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandomResizedCrop', scale=image_size, crop_ratio_range=(0.64, 1.0),
         interpolation='bicubic'),
    dict(type='mmpretrain.RandAugment', policies=fixmatch_policies, num_policies=2,
         magnitude_level=10, magnitude_std='inf', total_level=10),
    dict(type='mmpretrain.Cutout', shape=16, pad_val=127, prob=1.0),
]
train_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=num_points, method='random'),
    dict(type='NormalizeToUnitSphere'),
    # the reference's only point augmentation (PointcloudRotate): about the up axis (y),
    # angle uniform in [0, 2 pi) (6.2831... = 2 pi), points @ [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    dict(type='RandomRotateUpAxis', up_axis=1, angle_range=(0., 6.283185307179586)),
    *train_image_pipeline,
    dict(type='RandomTextPrompt'),
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=meta_keys),
]
# test_pipeline (points only, for the reconstruction metric) is the base's.

# The augmentation-free view of each shape (CLIP's preprocessing: shorter side to 224 bicubic,
# centre crop; the teacher normalises) that tools/cache_teacher_features.py gives the image
# teacher; unpacked: the tool appends Pack3DDetInputs(keys=['img']).
img_test_pipeline = [
    dict(type='LoadRenderedImage', to_rgb=to_rgb),
    dict(type='mmpretrain.ResizeEdge', scale=image_size, edge='short', interpolation='bicubic',
         backend='pillow'),
    dict(type='CenterCrop', crop_size=image_size),
]

# the class names (prompts) come from the first of these files that exists
names_file = ('shapenet55.json', 'ShapeNet-55/taxonomy.json')
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, names_file=names_file))
