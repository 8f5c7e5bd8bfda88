# Concept distillation on the synthetic RGB-D demo frames, with a small RANDOM CLIP and a random
# ClipCap mapper standing in for the pretrained teachers (nothing here may download weights):
#   python tools/create_demo_data.py --scannet-frames              # .sens + posed images
#   python tools/dataset_converters/scannet_frames.py --sens-root data/scannet_frames_demo/scans \
#       --split-dir data/scannet_frames_demo --frame-skip 5 --out data/scannet_frames_demo/pairs
#   python tools/misc/random_clip_checkpoint.py data/demo_clip_random.pth --preset demo
#   python tools/misc/random_clipcap_checkpoint.py data/demo_clipcap_random.pt \
#       --prefix-size 64 --gpt-embed-dims 64
#   python tools/train.py \
#       configs/concept_distill/concept-distill_clipcap-mlp_1xb4-10e_scannet-frames-demo.py
# The full student and recipe, a short schedule: this runs the pipeline (pairs, teacher,
# concept decoder, validation); random teachers transfer no 2D knowledge.
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

demo_root = 'data/scannet_frames_demo/pairs/'
# tools/misc/random_clip_checkpoint.py --preset demo: 224 px, 2 blocks of width 64, 64-d embedding
demo_clip_cfg = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=224, layers=2, width=64, patch_size=32, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))
model = dict(
    img_teacher=dict(
        clip=dict(_delete_=True, type='CLIPImageTeacher', model_cfg=demo_clip_cfg,
                  checkpoint='data/demo_clip_random.pth', channel_order='rgb'),
        checkpoint='data/demo_clipcap_random.pt',
        prefix_size=64,
        gpt_embed_dims=64),
    head=dict(target_shape=(10, 64)))
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=False, dataset=dict(data_root=demo_root))
val_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=False, dataset=dict(data_root=demo_root))
test_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=False, dataset=dict(data_root=demo_root))
# batch 4 instead of 128: lr 1e-4 (the recipe's 1e-3 overshoots at this batch and length)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=10, val_interval=10)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=10))
randomness = dict(seed=0)
