# ReCon in its zero-shot setting: the CLIP ViT-B/32 image tower is the image teacher, so the
# img and text queries live in CLIP's joint space; the test loop is zero-shot classification
# of the ShapeNet-55 test split (configs/recon_zeroshot_modelnet40.py: ModelNet40).
_base_ = ['./recon_pretrain.py']

# OpenAI's ViT-B/32 weights (QuickGELU model), see configs/_base_/models/recon.py
clip_checkpoint = 'data/pretrained/clip_vit_b32_openai.pth'
clip_text_teacher = dict(type='CLIPTextTeacher', model_name='ViT-B-32-quickgelu',
                         checkpoint=clip_checkpoint)
model = dict(
    img_teacher=dict(_delete_=True, type='CLIPImageTeacher', model_name='ViT-B-32-quickgelu',
                     checkpoint=clip_checkpoint),
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
