# Point-MAE on the generated demo objects (python tools/create_demo_data.py): the full model and
# recipe, a short schedule and CPU-friendly loading. The README's main command trains this.
_base_ = ['./point_mae_pretrain.py']

data_root = 'data/demo_shapenet/'
max_epochs = 20
warmup_epochs = 2

train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root=data_root))
test_dataloader = dict(batch_size=32, num_workers=2, dataset=dict(data_root=data_root))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5))
randomness = dict(seed=0)
