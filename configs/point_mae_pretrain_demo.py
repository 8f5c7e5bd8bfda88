# Point-MAE on the generated demo objects (python tools/create_demo_data.py): the full model and
# recipe, a short schedule and CPU-friendly loading. The README's main command trains this.
_base_ = ['./point_mae_pretrain.py']

train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
test_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=20)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5))
randomness = dict(seed=0)
