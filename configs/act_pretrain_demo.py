# ACT stage 2 on the demo objects (train + test), distilling the stage-1 demo run
# (configs/act_autoencoder_demo.py; a RANDOM ViT-S stands in for the pretrained 2D transformer).
_base_ = ['./act_pretrain.py']

data_root = 'data/demo_shapenet/'
model = dict(teacher=dict(
    checkpoint='work_dirs/act_autoencoder_demo/epoch_3.pth',
    model=dict(vit_blocks=dict(checkpoint='data/demo_vit_small.pth', arch='small'))))
train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(datasets=[
        dict(type='ShapeNet55Dataset', data_root=data_root, ann_file='ShapeNet-55/train.txt',
             pipeline={{_base_.train_pipeline}}),
        dict(type='ShapeNet55Dataset', data_root=data_root, ann_file='ShapeNet-55/test.txt',
             pipeline={{_base_.train_pipeline}}),
    ]))
max_epochs = 3
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-6,
                        by_epoch=True, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1))
randomness = dict(seed=0)
