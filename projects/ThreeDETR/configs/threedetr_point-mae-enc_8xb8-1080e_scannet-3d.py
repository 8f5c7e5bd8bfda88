# 3DETR whose encoder is the Point-MAE pre-trained 12 x 384 point-patch transformer over 2048
# groups of 32 points, projected to the decoder width. The one field to set: the checkpoint.
_base_ = ['./_base_/threedetr_8xb8-1080e_scannet-3d.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='PointPatchTransformer',
        embed_dims=384, depth=12, num_heads=6, num_groups=2048, group_size=32,
        drop_path_rate=0.1, with_cls_token=False,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/point_mae_pretrain/epoch_301.pth')))
