# Point-MAE pre-training on ShapeNet-55: the reference recipe (1024 points, 64 x 32 groups,
# mask 0.6, 301 epochs (0..300, as its loop), batch 128, AdamW 1e-3 / wd 0.05, the
# reference's per-epoch cosine with 10 warm-up epochs).
_base_ = [
    './_base_/models/point_mae.py',
    './_base_/datasets/shapenet55_pretrain.py',
    './_base_/datasets/modelnet40_svm_probe.py',
    './_base_/schedules/adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]
# the linear-SVM probe on ModelNet40 (_base_/datasets/modelnet40_svm_probe.py) after every
# epoch, as the references validate (val_freq 1)
train_cfg = dict(val_interval=1)
