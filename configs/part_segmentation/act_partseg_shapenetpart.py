# ACT part segmentation on ShapeNetPart (ACT part_segmentation/: the Point-MAE recipe, lr 2e-4;
# the head's Conv1d / Linear start from a truncated normal of std 0.02):
#   python tools/train.py configs/part_segmentation/act_partseg_shapenetpart.py
_base_ = ['./point_mae_partseg_shapenetpart.py']
pretrained = 'work_dirs/act_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(
        init_cfg=dict(type='TruncNormal', layer=['Conv1d', 'Linear'], std=0.02, bias=0.)))
