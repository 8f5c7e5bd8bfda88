# ReCon: Point-MAE (mask 0.6, Chamfer-L2) + cls / img / text global queries aligned with frozen
# teachers. Image teacher: ViT-B/16 (ImageNet-21k) Tanh(pre-logits(CLS)) (768); text teacher: CLIP
# ViT-B/32 text tower (512). Weights are read from the files below (nothing is downloaded);
# see docs/recon.md (Usage) for how to obtain them. Loss: SmoothL1 as the reference code;
# the paper's contrastive alignment is img_head/text_head loss=dict(type='SymmetricInfoNCELoss').
# The reference image target: Tanh(pre_logits(LN(x)[:, 0])) of timm 0.4.5's
# vit_base_patch16_224_in21k, i.e. Google's original ImageNet-21k ViT-B/16 with its pre-logits
# layer: the file jx_vit_base_patch16_224_in21k-e5005f0a.pth (release v0.1-vitjx of
# pytorch-image-models on GitHub; a timm state dict with pre_logits.fc.*), fed BGR views
# (the dataset's LoadRenderedImage(to_rgb=False)) normalised with ImageNet's mean / std, as the
# reference does. Newer timm's vit_base_patch16_224.augreg_in21k / .orig_in21k files have no
# pre-logits layer: use them with pre_logits=False (CLS after the final norm); their training
# statistics are RGB with mean = std = 0.5 (then also to_rgb=True in the dataset and
# channel_order='rgb', mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5) here). An mmpretrain ViT-B/16
# checkpoint works with source='mmpretrain'.
img_teacher = dict(
    type='ViTImageTeacher',
    checkpoint='data/pretrained/jx_vit_base_patch16_224_in21k.pth',
    source='timm', arch='base', img_size=224, patch_size=16,
    pre_logits=True,
    channel_order='bgr',
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
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
