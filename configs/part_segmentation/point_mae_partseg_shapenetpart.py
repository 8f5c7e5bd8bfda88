# Point-MAE part segmentation on ShapeNetPart (the reference recipe; README: 86.1 instance mIoU):
#   python tools/train.py configs/part_segmentation/point_mae_partseg_shapenetpart.py
# The encoder starts from a Point-MAE pre-training checkpoint of this package (or one converted
# with tools/model_converters/point_mae_to_pt3kd.py); set `pretrained` (or
# --cfg-options model.backbone.init_cfg.checkpoint=PATH). The best epoch on the test split
# (instance mIoU) is kept, as the reference scripts report it.
_base_ = [
    '../_base_/models/point_partseg.py',
    '../_base_/datasets/shapenetpart.py',
    '../_base_/schedules/partseg_adamw_cosine_300e.py',
    '../_base_/default_runtime.py',
]
pretrained = 'work_dirs/point_mae_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_best='instance_miou', rule='greater'))
