# ScanNetV2 semantic segmentation fine-tuning the ReCon encoder (renorm blocks + 3 global
# queries, no stop-gradient when fine-tuning; the head reads the local tokens):
#   bash tools/dist_train.sh \
#       configs/scene_segmentation/pointscene-seg_recon-enc_2xb8-200e_scannet-seg.py 2
_base_ = ['./pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py']
pretrained = 'work_dirs/recon_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(
        type='ReConPointTransformer',
        num_queries=3,
        detach_local=False,
        init_cfg=dict(checkpoint=pretrained)))
