embed_dims = 384
group_size = 32
model = dict(
    type='PointMAE',
    mask_ratio=0.6,
    mask_type='rand',
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    backbone=dict(
        type='PointPatchTransformer',
        embed_dims=embed_dims,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=64,
        group_size=group_size,
        drop_path_rate=0.1,
        with_cls_token=False),
    neck=dict(
        type='PointMAEDecoder', embed_dims=embed_dims, depth=4, num_heads=6,
        drop_path_rate=0.1),
    head=dict(
        type='PointReconstructionHead',
        embed_dims=embed_dims,
        group_size=group_size,
        loss=dict(type='PointChamferLoss', mode='l2')))
