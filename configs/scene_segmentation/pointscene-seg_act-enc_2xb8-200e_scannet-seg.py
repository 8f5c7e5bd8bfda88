# ScanNetV2 semantic segmentation fine-tuning the ACT stage-2 encoder (the same network as
# Point-MAE's; the ACT student's CLS token is not used):
#   bash tools/dist_train.sh \
#       configs/scene_segmentation/pointscene-seg_act-enc_2xb8-200e_scannet-seg.py 2
_base_ = ['./pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py']
pretrained = 'work_dirs/act_pretrain/epoch_301.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
