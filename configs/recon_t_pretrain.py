# ReCon-T: width 192, 3 heads (encoder and decoder), otherwise configs/recon_pretrain.py.
_base_ = ['./recon_pretrain.py']

model = dict(backbone=dict(embed_dims=192, num_heads=3), neck=dict(num_heads=3))
