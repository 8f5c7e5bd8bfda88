# ReCon (CLIP setting) on the demo objects (python tools/create_demo_data.py), with a small
# RANDOM CLIP standing in for the pretrained towers (nothing here may download weights):
#   python tools/misc/random_clip_checkpoint.py data/demo_clip_random.pth --preset demo
#   python tools/train.py configs/recon_clip_pretrain_demo.py
#   python tools/test.py configs/recon_clip_pretrain_demo.py \
#       work_dirs/recon_clip_pretrain_demo/epoch_10.pth
# This runs the pipeline (views, prompts, teachers, zero-shot test); it transfers no 2D or
# language knowledge, so its zero-shot accuracy says nothing about ReCon.
_base_ = ['./recon_clip_pretrain.py']

demo_clip = 'data/demo_clip_random.pth'
# tools/misc/random_clip_checkpoint.py DEMO_CLIP_CFG: 224 px views, 2 blocks of width 64 per tower
demo_clip_cfg = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=224, layers=2, width=64, patch_size=32, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))
demo_text_teacher = dict(type='CLIPTextTeacher', model_cfg=demo_clip_cfg, checkpoint=demo_clip)
model = dict(
    img_teacher=dict(_delete_=True, type='CLIPImageTeacher', model_cfg=demo_clip_cfg,
                     checkpoint=demo_clip, channel_order='bgr'),
    text_teacher=dict(_delete_=True, **demo_text_teacher),
    img_head=dict(target_dims=64),
    text_head=dict(target_dims=64))
# train split only, so the zero-shot test on the test split scores unseen shapes
train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(data_root='data/demo_shapenet/', ann_file='ShapeNet-55/train.txt'))
test_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
test_evaluator = dict(text_teacher=dict(_delete_=True, **demo_text_teacher))

param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=10, val_interval=10)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5))
randomness = dict(seed=0)
# the linear-SVM probe (docs/probe.md) on the demo classes, once after the last epoch: fit on
# the train split, scored on the test split (1024 points by FPS, unit sphere)
val_dataloader = dict(batch_size=32, num_workers=2, dataset={{_base_.demo_probe_test_set}})
val_cfg = dict(svm_train_dataloader=dict(batch_size=32, num_workers=2,
                                         dataset={{_base_.demo_probe_train_set}}))
val_evaluator = {{_base_.demo_probe_evaluator}}  # standardised features (docs/probe.md)
