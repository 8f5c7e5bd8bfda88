# Ablation "distillation + masked reconstruction": 60% of the groups hidden (random), the
# encoder and the concept decoder see the visible ones, Point-MAE's 4-block decoder and
# Chamfer-L2 reconstruct the hidden ones; loss = loss_distill + loss_rec.
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

model = dict(
    mask_ratio=0.6,
    mask_type='rand',
    reconstruction=dict(
        neck=dict(type='PointMAEDecoder', depth=4, num_heads=6, drop_path_rate=0.1),
        head=dict(type='PointReconstructionHead',
                  loss=dict(type='PointChamferLoss', mode='l2', loss_weight=1.0))))
