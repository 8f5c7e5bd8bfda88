# The paper's recipe trained from a teacher feature cache: the frozen CLIP + ClipCap teacher runs
# once over the training frames (the images are not augmented, so the cached prefixes are the
# targets the online teacher gives, up to the cache's float16), and training reads no image:
#   python tools/cache_teacher_features.py \
#       configs/concept_distill/concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py \
#       --teacher img --out data/scannet_frames/teacher_cache/clipcap_mlp_coco
#   python tools/train.py \
#       configs/concept_distill/concept-distill_clipcap-mlp_1xb128-250e_scannet-frames_cached.py
# The model checks that the cache was made by model.img_teacher (config and checkpoint sha256).
# Validation (the val frames) still runs the teacher; without its files set val_cfg=None
# val_dataloader=None val_evaluator=None.
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

img_cache = 'data/scannet_frames/teacher_cache/clipcap_mlp_coco'
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points={{_base_.num_points}}, method='random'),
    dict(type='CentrePoints'),
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    dict(type='LoadTeacherFeatures', cache_dir=img_cache, key='img_path', out_key='img_target'),
    dict(type='Pack3DDetInputs', keys=['points'],
         meta_keys=('sample_idx', 'scene_id', 'frame_id', 'pc_path', 'img_path', 'img_target',
                    'img_target_cache')),
]))
