# ReCon pre-training on ShapeNet-55 train + test (reference recipe, its runner sets whole=True):
# rotation about the up axis, mask 0.6, Chamfer-L2, cls / img / text queries; image teacher
# ViT-B/16 (Google's original ImageNet-21k weights) Tanh(pre-logits(CLS)), text teacher CLIP
# ViT-B/32; SmoothL1 alignment, weights 1; 301 epochs (0..300), batch 128, AdamW lr 5e-4 /
# wd 0.05, per-epoch cosine with 10 warm-up epochs. Teacher files: model.img_teacher.checkpoint /
# model.text_teacher.checkpoint. Paper variant (contrastive alignment):
# configs/recon_nce_pretrain.py.
_base_ = [
    './_base_/models/recon.py',
    './_base_/datasets/shapenet55_recon.py',
    './_base_/datasets/modelnet40_svm_probe.py',
    './_base_/schedules/adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]

train_dataloader = dict(
    dataset=dict(ann_file=['ShapeNet-55/train.txt', 'ShapeNet-55/test.txt']))
# no decay on query_tokens ('token' in the name) as the reference's cls / img / text_token;
# the query positions are decayed as its cls / img / text_pos
optim_wrapper = dict(optimizer=dict(lr=5e-4))
# the ViT image teacher's features are not in CLIP space: no zero-shot test here
# (configs/recon_clip_pretrain.py is the zero-shot setting)
test_dataloader = None
test_evaluator = None
test_cfg = None
# the linear-SVM probe on ModelNet40 (_base_/datasets/modelnet40_svm_probe.py) after every
# epoch, as the reference validates (validate='svm', val_freq 1): ReCon's PointTransformerSVM
# feature, LinearSVC(C=0.075)
train_cfg = dict(val_interval=1)
val_cfg = dict(feature='recon')
val_evaluator = dict(C=0.075)
