# Concept distillation pre-training on ScanNet v2 RGB-D frames, the paper's recipe: pairs of
# every 25th frame (tools/dataset_converters/scannet_frames.py), 4096 points in 64 groups of 32,
# the 12 x 384 x 6 encoder, 32 concept queries with one cross-attention layer shared across
# depth, a 2-layer MLP to ClipCap's 10 x 768 prefix of the frame's CLIP ViT-B/32 embedding
# (MLP mapper), MSE; AdamW lr 1e-3, wd 0.05, cosine with 10 warm-up epochs, 250 epochs; scale +
# translate augmentation. Batch 128 (the paper gives none: the lineage's pre-training batch).
# Teacher files: model.img_teacher.clip.checkpoint, model.img_teacher.checkpoint
# (docs/concept_distill.md). Validation: the distillation error on the val scenes' frames.
# Faster: cache the teacher's prefixes once (the images are not augmented), see
# docs/concept_distill.md, "Cached teacher features".
_base_ = [
    '../_base_/models/concept_distill.py',
    '../_base_/datasets/scannet_frames.py',
    '../_base_/schedules/adamw_cosine_300e.py',
    '../_base_/default_runtime.py',
]

train_cfg = dict(max_epochs=250, val_interval=10)
val_dataloader = {{_base_.test_dataloader}}
val_evaluator = {{_base_.test_evaluator}}
val_cfg = dict(type='ValLoop')
