# ReCon-S: width 256, 4 heads (encoder and decoder), otherwise configs/recon_pretrain.py.
_base_ = ['./recon_pretrain.py']

model = dict(backbone=dict(embed_dims=256, num_heads=4), neck=dict(num_heads=4))
