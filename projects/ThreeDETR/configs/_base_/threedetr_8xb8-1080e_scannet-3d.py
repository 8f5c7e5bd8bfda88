# 3DETR on ScanNetV2 (facebookresearch/3detr scripts/scannet_ep1080.sh): mmdet3d's ScanNet
# dataset, transforms and IndoorMetric; the original encoder (set abstraction + 3 layers);
# decoder 8 x 256, 4 heads, 256 FPS queries; AdamW 5e-4, wd 0.1, grad clip 0.1, 9 warm-up
# epochs then cosine to 1e-6, 1080 epochs, batch 8.
_base_ = ['mmdet3d::_base_/datasets/scannet-3d.py', 'mmdet3d::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.ThreeDETR.threedetr'], allow_failed_imports=False)

model = dict(
    type='ThreeDETR',
    data_preprocessor=dict(type='Det3DDataPreprocessor'),
    backbone=dict(type='ThreeDETREncoder', num_points=2048, radius=0.2, num_samples=64,
                  embed_dims=256, depth=3, num_heads=4, ffn_dims=128, dropout=0.1),
    bbox_head=dict(
        type='ThreeDETRHead',
        num_classes=18,
        embed_dims=256,
        num_queries=256,
        num_decoder_layers=8,
        num_heads=4,
        ffn_dims=256,
        dropout=0.1,
        mlp_dropout=0.3,
        bbox_coder=dict(type='ThreeDETRBBoxCoder', num_angle_bins=12),
        matcher=dict(type='HungarianMatcher3D', cls_cost=1.0, objectness_cost=0.0,
                     giou_cost=2.0, center_cost=0.0),
        loss_weights=dict(cls=1.0, no_object=0.25, giou=1.0, center=5.0, size=1.0,
                          angle_cls=0.1, angle_reg=0.5),
        test_cfg=dict(remove_empty_box=True, min_points_in_box=5, nms_iou=0.25,
                      conf_thresh=0.05, per_class_proposal=True)))

# xyz only (no height channel), 40k points, flips of both horizontal axes, +-5 deg about z
num_points = 40000
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, load_dim=6,
         use_dim=[0, 1, 2]),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalAlignment', rotation_axis=2),
    dict(type='PointSample', num_points=num_points),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.087266, 0.087266],
         scale_ratio_range=[1.0, 1.0], shift_height=False),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, load_dim=6,
         use_dim=[0, 1, 2]),
    dict(type='GlobalAlignment', rotation_axis=2),
    dict(type='PointSample', num_points=num_points),
    dict(type='Pack3DDetInputs', keys=['points'])
]
train_dataloader = dict(
    batch_size=8, num_workers=4,
    dataset=dict(times=1, dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.1),
    clip_grad=dict(max_norm=0.1, norm_type=2))
# the reference warms up from 1e-6 to 5e-4 over 9 epochs, then cosine to 1e-6
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 5e-4, by_epoch=True, begin=0, end=9,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=9,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1080, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# the reference's batch: one GPU x 8 scenes at lr 5e-4 (use --auto-scale-lr on more GPUs)
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3,
                                     save_last=True))
