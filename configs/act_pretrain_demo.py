# ACT stage 2 on the demo objects (train + test), distilling the stage-1 demo run
# (configs/act_autoencoder_demo.py; a RANDOM ViT-S stands in for the pretrained 2D transformer).
_base_ = ['./act_pretrain.py']

model = dict(teacher=dict(
    checkpoint='work_dirs/act_autoencoder_demo/epoch_3.pth',
    model=dict(vit_blocks=dict(checkpoint='data/demo_vit_small.pth', arch='small'))))
train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=3)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1))
randomness = dict(seed=0)
