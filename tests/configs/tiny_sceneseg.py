# A tiny scene segmentor for end-to-end tests on CPU: the package's code paths and mmdet3d's
# ScanNetSegDataset, transforms and SegMetric at toy sizes (2 blocks of 64 wide, 2048-point
# patches in 64 groups of 32); trains on one demo room and validates on the same room (an
# over-fit check). The head reads xyz + rgb as the real configs do. A block is accepted with 256
# points (min_unique_num): mmdet3d's default test (2 % of a 31 x 31 x 62 voxel grid occupied)
# rejects nearly every block of walls and open floor in rooms of a few thousand points, so
# training would see almost only furniture.
_base_ = ['../../configs/scene_segmentation/pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py']

data_root = 'data/scannet_demo/'
num_points = 2048
model = dict(
    backbone=dict(embed_dims=64, depth=2, num_heads=2, num_groups=64, drop_path_rate=0.0,
                  out_indices=(0, 1), init_cfg=None),
    decode_head=dict(fp_channels=(128, ), mlp_channels=(64, ),
                     dropout_ratio=0.0, loss_decode=dict(class_weight=None)),
    test_cfg=dict(num_points=num_points, batch_size=8))
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, use_color=True,
         load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_mask_3d=False,
         with_seg_3d=True),
    dict(type='PointSegClassMapping'),
    dict(type='IndoorPatchPointSample', num_points=num_points, block_size=1.5, ignore_index=20,
         use_normalized_coord=False, enlarge_size=0.2, min_unique_num=256),
    dict(type='NormalizePointsColor', color_mean=None),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline, scene_idxs=None))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='scannet_infos_train.pkl'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-3), clip_grad=None)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=25), checkpoint=dict(interval=1, save_best=None))
