# 3DETR whose encoder is the ACT stage-2 (distilled) student: 12 x 384 with its CLS token,
# 2048 groups of 32 points. The one field to set: the checkpoint.
_base_ = ['./threedetr_point-mae-enc_8xb8-1080e_scannet-3d.py']

model = dict(
    backbone=dict(
        with_cls_token=True,
        init_cfg=dict(checkpoint='work_dirs/act_pretrain/epoch_301.pth')))
