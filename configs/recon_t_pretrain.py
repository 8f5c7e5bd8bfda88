# ReCon-T: width 192, 3 heads (encoder and decoder), otherwise configs/recon_pretrain.py.
_base_ = ['./recon_pretrain.py']

embed_dims = 192
model = dict(
    backbone=dict(embed_dims=embed_dims, num_heads=3),
    neck=dict(embed_dims=embed_dims, num_heads=3),
    head=dict(embed_dims=embed_dims),
    img_head=dict(embed_dims=embed_dims),
    text_head=dict(embed_dims=embed_dims))
