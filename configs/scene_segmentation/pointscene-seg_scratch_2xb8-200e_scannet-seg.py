# The baseline every pre-training is measured against: the same segmentor and recipe from a
# random initialisation.
#   bash tools/dist_train.sh \
#       configs/scene_segmentation/pointscene-seg_scratch_2xb8-200e_scannet-seg.py 2
_base_ = ['./pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py']
model = dict(backbone=dict(init_cfg=None))
