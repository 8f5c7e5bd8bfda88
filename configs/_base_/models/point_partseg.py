# Part segmentor of the Point-MAE lineage (segmentation/models/pt.py): the 12 x 384 point-patch
# transformer on 128 groups of 32 points, the normed tokens of blocks 4, 8, 12 (out_indices
# 3, 7, 11) concatenated (1152), their max + mean, the category one-hot embedding (64), feature
# propagation from the 128 centres (3 nearest, 1 / d^2 weights) after the xyz -> 1536 -> 1024,
# then Conv1d 512 (BN, ReLU, dropout 0.5) -> 256 (BN, ReLU) -> 50 parts; cross-entropy.
# The head's input widths come from the backbone (set embed_dims / out_indices there only).
model = dict(
    type='PointPartSegmentor',
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    backbone=dict(
        type='PointPatchTransformer',
        embed_dims=384,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=128,
        group_size=32,
        drop_path_rate=0.1,
        with_cls_token=False,
        out_indices=(3, 7, 11)),
    decode_head=dict(
        type='PointPartSegHead',
        label_channels=64,
        fp_channels=(1536, 1024),
        channels=(512, 256),
        dropout_ratio=0.5,
        loss_decode=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
