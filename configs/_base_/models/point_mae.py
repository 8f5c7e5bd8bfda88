# Point-MAE: the point-patch transformer (12 x 384, 64 groups of 32 points) encodes the visible
# 40% of the groups, a 4-block decoder adds mask tokens, a Linear predicts the 32 points of each
# masked group, Chamfer-L2. Sizes live on the backbone only: the decoder and the head take
# embed_dims / group_size from it (a part that sets another value is an error).
model = dict(
    type='PointMAE',
    mask_ratio=0.6,
    mask_type='rand',
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    backbone=dict(
        type='PointPatchTransformer',
        embed_dims=384,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=64,
        group_size=32,
        drop_path_rate=0.1,
        with_cls_token=False),
    neck=dict(type='PointMAEDecoder', depth=4, num_heads=6, drop_path_rate=0.1),
    head=dict(type='PointReconstructionHead', loss=dict(type='PointChamferLoss', mode='l2')))
