# ScanNetV2 semantic segmentation (20 classes, mmdet3d's ScanNetSegDataset, transforms and
# SegMetric) fine-tuning the Point-MAE pre-trained encoder (docs/scene_segmentation.md):
#   bash tools/dist_train.sh \
#       configs/scene_segmentation/pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py 2
# Set `pretrained` (or --cfg-options model.backbone.init_cfg.checkpoint=PATH); data from
# tools/dataset_converters/prepare_scannet.py in data/scannet/. The best val mIoU is kept.
_base_ = [
    '../_base_/datasets/scannet_seg.py',
    '../_base_/models/point_sceneseg.py',
    '../_base_/schedules/sceneseg_adamw_cosine_200e.py',
    'mmdet3d::_base_/default_runtime.py',
]
pretrained = 'work_dirs/point_mae_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_dataloader = dict(batch_size=8)
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=1, save_best='miou', rule='greater'))
