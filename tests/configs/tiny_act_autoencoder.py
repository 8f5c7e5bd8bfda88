# Tiny ACT stage 1 for end-to-end tests; the test passes model.vit_blocks.checkpoint.
_base_ = ['../../configs/act_autoencoder.py']

model = dict(
    embed_dims=24, num_groups=16, group_size=8, num_tokens=64, num_prompts=4,
    vit_blocks=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2,
                              feedforward_channels=64)))
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='data/demo_shapenet/', pipeline=[
        dict(type='LoadPointCloudNpy'),
        dict(type='PointSubsample', num_points=128),
        dict(type='NormalizeToUnitSphere'),
        dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'pc_path')),
    ]))
# cosine only (a run of one epoch has no room for warm-up); it ends at max_epochs
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=2)
custom_hooks = [
    dict(type='CosineScheduleHook', attr='gumbel_tau', start=1.0, end=0.0625, num_iters=8),
    dict(type='CosineScheduleHook', attr='kl_weight', start=0.0, end=0.1, num_iters=8,
         begin_iter=2),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
