# Scene segmentor of the point-patch transformer (PointSceneSegmentor, an mmdet3d
# EncoderDecoder3D): the 12 x 384 encoder on 8192-point blocks in 256 groups of 32 (REFERENCE.md,
# scene segmentation), reading xyz only; the normed tokens of blocks 4, 8, 12 (out_indices 3, 7,
# 11; 1152 channels) propagated to every point from its 3 nearest centres (1 / d^2) after the
# point's xyz + rgb (skip 6), Conv1d 1536 -> 1024, max + mean of the tokens, Conv1d 512 -> 256,
# dropout 0.5, 20 classes. The loss is mmdet3d's ScanNet recipe (pointnet2 / paconv / dgcnn
# ScanNet configs): cross-entropy with the class weights of seg_info/train_label_weight.npy on
# ScanNet train, label 20 ignored. Whole scenes are predicted in chunks, each point once.
custom_imports = dict(imports=['pt3kd_mm'], allow_failed_imports=False)
class_weight = [
    2.389689, 2.7215734, 4.5944676, 4.8543367, 4.096086, 4.907941, 4.690836, 4.512031,
    4.623311, 4.9242644, 5.358117, 5.360071, 5.019636, 4.967126, 5.3502126, 5.4023647,
    5.4027233, 5.4169416, 5.3954206, 4.6971426
]
model = dict(
    type='PointSceneSegmentor',
    data_preprocessor=dict(type='Det3DDataPreprocessor'),
    backbone=dict(
        type='PointPatchTransformer',
        embed_dims=384,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=256,
        group_size=32,
        drop_path_rate=0.1,
        with_cls_token=False,
        out_indices=(3, 7, 11)),
    decode_head=dict(
        type='PointSceneSegHead',
        num_classes=20,
        ignore_index=20,
        skip_channels=6,
        fp_channels=(1536, 1024),
        with_global_feature=True,
        mlp_channels=(512, 256),
        dropout_ratio=0.5,
        loss_decode=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                         class_weight=class_weight, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='chunk', num_points=8192, block_size=1.5, sample_rate=0.5,
                  use_normalized_coord=False, batch_size=8, seed=0))
# The linear probe (a leaf: model = dict(freeze_backbone=True,
# decode_head={{_base_.linear_probe_head}})): the frozen encoder's tokens interpolated to the
# points, then one linear layer (Conv1d 1152 -> 20); nothing else learns.
linear_probe_head = dict(
    _delete_=True,
    type='PointSceneSegHead',
    num_classes=20,
    ignore_index=20,
    skip_channels=0,
    fp_channels=(),
    with_global_feature=False,
    mlp_channels=(),
    dropout_ratio=0.0,
    loss_decode=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                     class_weight=class_weight, loss_weight=1.0))
