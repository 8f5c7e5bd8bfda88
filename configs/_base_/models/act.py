# ACT stage 2: masked distillation of the frozen stage-1 autoencoder (configs/act_autoencoder.py).
# The teacher is the stage-1 model of ./act_autoencoder.py loaded from model.teacher.checkpoint
# (default below); its 2D ViT file is model.teacher.model.vit_blocks.checkpoint. Override those
# two keys (a child config's act_stage1_checkpoint variable would not reach them).
_base_ = ['./act_autoencoder.py']

act_stage1_checkpoint = 'work_dirs/act_autoencoder/epoch_300.pth'
stage1_model = {{_base_.model}}
embed_dims = 384
group_size = 32
model = dict(
    _delete_=True,
    type='ACT',
    mask_ratio=0.8,
    mask_type='rand',
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    backbone=dict(
        type='PointPatchTransformer',
        embed_dims=embed_dims,
        depth=12,
        num_heads=6,
        num_groups=64,
        group_size=group_size,
        drop_path_rate=0.1,
        with_cls_token=True),
    neck=dict(type='PointMAEDecoder', embed_dims=embed_dims, depth=2, num_heads=6,
              drop_path_rate=0.1),
    head=dict(type='CosineDistillHead', embed_dims=embed_dims, target_dims=384),
    teacher=dict(
        type='ConfigModelTeacher',
        model=stage1_model,
        checkpoint=act_stage1_checkpoint,
        method='encode_groups'))
