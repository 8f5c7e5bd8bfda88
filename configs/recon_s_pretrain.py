# ReCon-S: width 256, 4 heads (encoder and decoder), otherwise configs/recon_pretrain.py.
_base_ = ['./recon_pretrain.py']

embed_dims = 256
model = dict(
    backbone=dict(embed_dims=embed_dims, num_heads=4),
    neck=dict(embed_dims=embed_dims, num_heads=4),
    head=dict(embed_dims=embed_dims),
    img_head=dict(embed_dims=embed_dims),
    text_head=dict(embed_dims=embed_dims))
