# ReCon in its zero-shot setting: the CLIP ViT-B/32 image tower is the image teacher, so the
# img and text queries live in CLIP's joint space. Pre-training data as recon_pretrain.py
# (ShapeNet-55 train + test, BGR views). As the reference, CLIP is fed those BGR views
# normalised with ImageNet's statistics; CLIP's own input (RGB, its own statistics) is
#   model.img_teacher.network_channel_order='rgb' model.img_teacher.mean=None
#   model.img_teacher.std=None
# (a deviation: the features CLIP was trained to give). The test loop is
# zero-shot classification of the ShapeNet-55 test split, whose shapes are then seen in
# pre-training (a sanity check, not a result); the result is
# configs/recon_zeroshot_modelnet40.py (ModelNet40).
_base_ = ['./recon_pretrain.py']

# OpenAI's ViT-B/32 weights (QuickGELU model), see configs/_base_/models/recon.py
clip_checkpoint = 'data/pretrained/clip_vit_b32_openai.pth'
clip_text_teacher = dict(type='CLIPTextTeacher', model_name='ViT-B-32-quickgelu',
                         checkpoint=clip_checkpoint)
model = dict(
    img_teacher=dict(_delete_=True, type='CLIPImageTeacher', model_name='ViT-B-32-quickgelu',
                     checkpoint=clip_checkpoint, channel_order='bgr',
                     network_channel_order=None, mean=(0.485, 0.456, 0.406),
                     std=(0.229, 0.224, 0.225)),
    text_teacher=dict(_delete_=True, **clip_text_teacher),
    img_head=dict(target_dims=512))

test_dataloader = dict(
    _delete_=True,
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ShapeNet55Dataset',
        data_root='data/ShapeNet55-34/',
        ann_file='ShapeNet-55/test.txt',
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))  # 1024 points by FPS, unit sphere, no voting
# the 60 ReCon templates per class, features summed; img query + 0.25 * text query
test_evaluator = dict(_delete_=True, type='ZeroShotAccuracy', text_teacher=clip_text_teacher)
test_cfg = dict(_delete_=True, type='TestLoop')
