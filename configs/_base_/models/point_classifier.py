# The fine-tuning classifier of Point-MAE and ACT (their PointTransformer): the 12 x 384
# encoder with a CLS token, concat(CLS, max-pool of the patch tokens) (2C) -> MLP 256 -> 256 ->
# classes with BN, ReLU, dropout 0.5; plain cross-entropy (no label smoothing in any
# reference). `in_channels` of the head comes from the backbone.
mlp_head = dict(
    type='mmpretrain.StackedLinearClsHead',
    num_classes=40,
    mid_channels=[256, 256],
    dropout_rate=0.5,
    norm_cfg=dict(type='BN1d'),
    act_cfg=dict(type='ReLU'),
    loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0))
# the linear protocol's head (ACT / ReCon `linear`): one Linear, PyTorch's default init as the
# reference (no init_cfg)
linear_head = dict(
    type='mmpretrain.LinearClsHead',
    num_classes=40,
    init_cfg=None,
    loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0))
model = dict(
    type='PointClassifier',
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
        with_cls_token=True),
    head=mlp_head)
