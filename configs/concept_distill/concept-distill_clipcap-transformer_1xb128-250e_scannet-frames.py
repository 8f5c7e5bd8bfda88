# The same with ClipCap's transformer mapping network, as ClipCap released it: CLIP RN50x4
# (640-d embedding, 288 px images, normalised before the mapper as ClipCap's inference does),
# 8 layers, 40 prefix embeddings of width 768 (clip_length 40). The head regresses (40, 768).
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

img_size = 288
img_test_pipeline = [
    dict(type='LoadFrameImage', to_rgb=True),
    dict(type='ResizeCropFrameImage', size=img_size, interpolation='bicubic'),
]
_pipeline_tail = [
    dict(type='ProjectPointsToImage'),
    dict(type='CentrePoints'),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points={{_base_.num_points}}, method='random'),
    *img_test_pipeline,
    *_pipeline_tail,
    dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.), translate_range=0.2),
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys={{_base_.meta_keys}}),
]))
_test_pipeline = [
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points={{_base_.num_points}}, method='random'),
    *img_test_pipeline,
    *_pipeline_tail,
    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys={{_base_.meta_keys}}),
]
test_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
val_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
model = dict(
    img_teacher=dict(
        clip=dict(model_name='RN50x4-quickgelu',
                  checkpoint='data/pretrained/clip_rn50x4_openai.pth'),
        checkpoint='data/pretrained/clipcap_transformer_weights.pt',
        mapping_type='transformer',
        prefix_length=40,
        clip_length=40,
        num_layers=8,
        prefix_size=640),
    head=dict(target_shape=(40, 768)))
