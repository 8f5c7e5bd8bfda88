# ScanNetV2 semantic segmentation: mmdet3d's own dataset config (ScanNetSegDataset, 20 classes,
# label 20 ignored, 8192-point blocks of 1.5 m from IndoorPatchPointSample, colours / 255,
# SegMetric) with one fix: mmdet3d 1.4's test pipeline loads the raw NYU40 ids of
# semantic_mask/*.bin without PointSegClassMapping, so SegMetric would compare the predicted
# 0..19 labels with raw ids (wall 1, floor 2, ...). The mapping is added here.
_base_ = ['mmdet3d::_base_/datasets/scannet-seg.py']

test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, use_color=True,
         load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_mask_3d=False,
         with_seg_3d=True),
    dict(type='PointSegClassMapping'),
    dict(type='NormalizePointsColor', color_mean=None),
    dict(type='Pack3DDetInputs', keys=['points'])
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
