# Concept distillation (the seed paper, "3D point cloud pre-training with knowledge distillation
# from 2D images"; no public code: this is the reference implementation). The point-patch
# transformer (12 x 384 x 6, 64 groups of 32 points) encodes the whole frame cloud; 32 learnable
# concept queries run through ONE cross-attention decoder layer (self-attention -> LN ->
# cross-attention -> LN -> FFN -> LN, mmdet's DetrTransformerDecoderLayer) after every encoder
# layer, reading that layer's point tokens (parameters shared across depth); a 2-layer MLP maps
# the concept tokens to the teacher's caption prefix (10 x 768); MSE. Teacher: CLIP ViT-B/32's
# image embedding -> ClipCap's MLP mapping network -> 10 GPT-2 input embeddings, frozen. Only
# the mapper is read from the ClipCap file (its GPT-2 weights are ignored). Files:
# model.img_teacher.clip.checkpoint (open_clip ViT-B-32-quickgelu with OpenAI's weights) and
# model.img_teacher.checkpoint (ClipCap's coco_weights.pt / conceptual_weights.pt, MLP mapper,
# prefix 10); docs/concept_distill.md says how to obtain them.
clip_teacher = dict(
    type='CLIPImageTeacher',
    model_name='ViT-B-32-quickgelu',
    checkpoint='data/pretrained/clip_vit_b32_openai.pth',
    channel_order='rgb')
img_teacher = dict(
    type='ClipCapPrefixTeacher',
    clip=clip_teacher,
    checkpoint='data/pretrained/clipcap_coco_weights.pt',
    mapping_type='mlp',
    prefix_length=10,
    prefix_size=512,
    gpt_embed_dims=768)
model = dict(
    type='ConceptDistill',
    alignment='global',
    data_preprocessor=dict(type='PointCloudPreprocessor', num_channels=3),
    # out_indices: set by ConceptDistill to every layer (the concept decoder reads them all)
    backbone=dict(
        type='PointPatchTransformer',
        embed_dims=384,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=64,
        group_size=32,
        drop_path_rate=0.1,
        with_cls_token=False),
    # embed_dims: from the backbone
    neck=dict(type='ConceptQueryDecoder', num_queries=32, num_heads=6),
    # embed_dims / num_tokens: from the backbone and the neck; target_shape: the teacher's
    head=dict(
        type='PrefixAlignHead',
        target_shape=(10, 768),
        hidden_dims=1024,
        loss=dict(type='mmdet.MSELoss', loss_weight=1.0)),
    img_teacher=img_teacher)
