# Point-MAE on the generated demo objects (python tools/create_demo_data.py): the full model and
# recipe, a short schedule and CPU-friendly loading. The README's main command trains this.
_base_ = ['./point_mae_pretrain.py']

train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
test_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=20, val_interval=20)  # the SVM probe once, after the last epoch
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5))
randomness = dict(seed=0)
# the linear-SVM probe (docs/probe.md) on the demo classes: fit on the train split, scored on
# the test split (1024 points by FPS, unit sphere)
val_dataloader = dict(batch_size=32, num_workers=2, dataset={{_base_.demo_probe_test_set}})
val_cfg = dict(svm_train_dataloader=dict(batch_size=32, num_workers=2,
                                         dataset={{_base_.demo_probe_train_set}}))
val_evaluator = {{_base_.demo_probe_evaluator}}  # standardised features (docs/probe.md)
