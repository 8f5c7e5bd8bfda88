# ReCon: Point-MAE (mask 0.6, Chamfer-L2) + cls / img / text global queries aligned with frozen
# teachers. Image teacher: ViT-B/16 (ImageNet-21k) CLS feature (768); text teacher: CLIP
# ViT-B/32 text tower (512). Weights are read from the files below (nothing is downloaded);
# see docs/recon.md (Usage) for how to obtain them. Loss: SmoothL1 as the reference code;
# the paper's contrastive alignment is img_head/text_head loss=dict(type='SymmetricInfoNCELoss').
# timm's vit_base_patch16_224.augreg_in21k state dict (in21k ViTs expect mean = std = 0.5);
# an mmpretrain ViT-B/16 checkpoint works with source='mmpretrain'
img_teacher = dict(
    type='ViTImageTeacher',
    checkpoint='data/pretrained/vit_base_patch16_224_in21k.pth',
    source='timm', arch='base', img_size=224, patch_size=16,
    mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
# OpenAI's CLIP weights need QuickGELU: open_clip's 'ViT-B-32-quickgelu' (plain 'ViT-B-32'
# builds GELU and would load those weights without error but give wrong features)
text_teacher = dict(
    type='CLIPTextTeacher', model_name='ViT-B-32-quickgelu',
    checkpoint='data/pretrained/clip_vit_b32_openai.pth')
model = dict(
    type='ReCon',
    mask_ratio=0.6,
    mask_type='rand',
    zero_shot_text_weight=0.25,
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    backbone=dict(
        type='ReConPointTransformer',
        num_queries=3,
        detach_local=True,
        embed_dims=384,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=64,
        group_size=32,
        drop_path_rate=0.1),
    # embed_dims / group_size: from the backbone (set them there only)
    neck=dict(type='PointMAEDecoder', depth=4, num_heads=6, drop_path_rate=0.1),
    head=dict(
        type='PointReconstructionHead',
        loss=dict(type='PointChamferLoss', mode='l2', loss_weight=1.0)),
    # target_dims: the teacher's feature width
    img_head=dict(
        type='GlobalAlignHead', target_dims=768,
        loss=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0)),
    text_head=dict(
        type='GlobalAlignHead', target_dims=512,
        loss=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0)),
    img_teacher=img_teacher,
    text_teacher=text_teacher)
