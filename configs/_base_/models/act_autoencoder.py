# ACT stage 1: the cross-modal dVAE around a frozen ViT-B/16 (384) from timm. Defined as the
# variable act_autoencoder (not model) so that stage 2 (./act.py) can inherit it as its teacher
# next to the student's ./point_mae.py; configs/act_autoencoder.py trains it.
# Put the 2D weights at vit_checkpoint (see FrozenViTBlocks.how_to_get for how to save them).
vit_checkpoint = 'data/pretrained/vit_base_patch16_384.pth'
act_autoencoder = dict(
    type='ACTAutoencoder',
    embed_dims=384,
    num_groups=64,
    group_size=32,
    num_tokens=8192,
    num_prompts=64,
    deep_prompts=True,
    dgcnn_k=4,
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    vit_blocks=dict(type='FrozenViTBlocks', checkpoint=vit_checkpoint, source='timm',
                    arch='base'))
