# ReCon pre-training on ShapeNet-55 train (reference recipe): mask 0.6, Chamfer-L2, cls / img /
# text queries; image teacher ViT-B/16 (ImageNet-21k) CLS feature, text teacher CLIP ViT-B/32;
# SmoothL1 alignment, weights 1; 300 epochs, batch 128, AdamW lr 5e-4 / wd 0.05, cosine with 10
# warm-up epochs. Teacher files: model.img_teacher.checkpoint / model.text_teacher.checkpoint.
# Paper variant (contrastive alignment): configs/recon_nce_pretrain.py.
_base_ = [
    './_base_/models/recon.py',
    './_base_/datasets/shapenet55_recon.py',
    './_base_/schedules/adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]

optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    paramwise_cfg=dict(custom_keys={
        'query_tokens': dict(decay_mult=0.0),
        'query_pos': dict(decay_mult=0.0),
    }))
# the ViT image teacher's features are not in CLIP space: no zero-shot test here
# (configs/recon_clip_pretrain.py is the zero-shot setting)
test_dataloader = None
test_evaluator = None
test_cfg = None
