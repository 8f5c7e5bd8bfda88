# ACT stage 2: the Point-MAE student (./point_mae.py) with a CLS token, mask 0.8 and a 2-block
# decoder distils the frozen stage-1 autoencoder (./act_autoencoder.py) loaded from
# model.teacher.checkpoint; its 2D ViT file is model.teacher.model.vit_blocks.checkpoint.
# The head's target_dims comes from the teacher's embed_dims, and the student's num_groups /
# group_size must equal the teacher's (the teacher encodes the student's groups).
_base_ = ['./point_mae.py', './act_autoencoder.py']

model = dict(
    type='ACT',
    mask_ratio=0.8,
    backbone=dict(with_cls_token=True),
    neck=dict(depth=2),
    head=dict(_delete_=True, type='CosineDistillHead'),
    teacher=dict(
        type='ConfigModelTeacher',
        model={{_base_.act_autoencoder}},
        checkpoint='work_dirs/act_autoencoder/epoch_301.pth',
        method='encode_groups'))
