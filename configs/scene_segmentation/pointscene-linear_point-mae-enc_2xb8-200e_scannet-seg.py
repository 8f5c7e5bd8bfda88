# Linear probe of the frozen point-mae encoder on ScanNetV2 segmentation: the encoder's weights and
# BatchNorm statistics stay fixed (eval mode, no gradient); its tokens are interpolated to the
# points and one linear layer learns (AdamW lr 1e-3: only a linear layer learns, at the
# recipe's pre-training rate).
#   bash tools/dist_train.sh \
#       configs/scene_segmentation/pointscene-linear_point-mae-enc_2xb8-200e_scannet-seg.py 2
_base_ = ['./pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py']
model = dict(freeze_backbone=True, decode_head={{_base_.linear_probe_head}})
optim_wrapper = dict(optimizer=dict(lr=1e-3))
