# ACT stage 1 on the demo objects with a RANDOM ViT-S/16 standing in for the pretrained 2D
# transformer (python tools/misc/random_vit_checkpoint.py data/demo_vit_small.pth): it runs the
# whole pipeline on CPU in minutes; it transfers no 2D knowledge.
_base_ = ['./act_autoencoder.py']

model = dict(vit_blocks=dict(checkpoint='data/demo_vit_small.pth', arch='small'))
train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=3)
# the reference schedules compressed to the 21 demo iterations
custom_hooks = [
    dict(type='CosineScheduleHook', attr='gumbel_tau', start=1.0, end=0.0625, num_iters=21),
    dict(type='CosineScheduleHook', attr='kl_weight', start=0.0, end=0.1, num_iters=18,
         begin_iter=3),
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1))
randomness = dict(seed=0)
