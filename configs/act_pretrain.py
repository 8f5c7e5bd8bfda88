# ACT stage 2 on ShapeNet-55 train + test: mask 0.8, 301 epochs (0..300, as the reference's
# loop), batch 128, AdamW 1e-3 / wd 0.05, per-epoch cosine with 10 warm-up epochs. Point the
# teacher at your stage-1 run, e.g.
#   --cfg-options model.teacher.checkpoint=work_dirs/act_autoencoder/epoch_301.pth \
#                 model.teacher.model.vit_blocks.checkpoint=data/pretrained/vit_base_patch16_384.pth
_base_ = [
    './_base_/models/act.py',
    './_base_/datasets/shapenet55_pretrain.py',
    './_base_/datasets/modelnet40_svm_probe.py',
    './_base_/schedules/adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]

train_dataloader = dict(
    dataset=dict(ann_file=['ShapeNet-55/train.txt', 'ShapeNet-55/test.txt']))
test_dataloader = None
test_evaluator = None
test_cfg = None
# the linear-SVM probe on ModelNet40 (_base_/datasets/modelnet40_svm_probe.py) after every
# epoch, as the references validate (val_freq 1)
train_cfg = dict(val_interval=1)
