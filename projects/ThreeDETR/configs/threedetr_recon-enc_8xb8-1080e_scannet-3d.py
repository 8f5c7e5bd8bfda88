# 3DETR whose encoder is the ReCon student (local tokens + 3 global queries), 2048 groups of
# 32 points; the decoder reads the local tokens. The one field to set: the checkpoint.
_base_ = ['./threedetr_point-mae-enc_8xb8-1080e_scannet-3d.py']

model = dict(
    backbone=dict(
        type='ReConPointTransformer',
        num_queries=3,
        init_cfg=dict(checkpoint='work_dirs/recon_pretrain/epoch_301.pth')))
