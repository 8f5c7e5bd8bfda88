# ACT stage 2 on the demo objects (train + test), distilling the stage-1 demo run
# (configs/act_autoencoder_demo.py; a RANDOM ViT-S stands in for the pretrained 2D transformer).
_base_ = ['./act_pretrain.py']

model = dict(teacher=dict(
    checkpoint='work_dirs/act_autoencoder_demo/epoch_3.pth',
    model=dict(vit_blocks=dict(checkpoint='data/demo_vit_small.pth', arch='small'))))
train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(data_root='data/demo_shapenet/'))
param_scheduler = {{_base_.short_run_param_scheduler}}
train_cfg = dict(max_epochs=3, val_interval=3)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1))
randomness = dict(seed=0)
# the linear-SVM probe (docs/probe.md) on the demo classes, once after the last epoch: fit on
# the train split, scored on the test split (1024 points by FPS, unit sphere)
val_dataloader = dict(batch_size=32, num_workers=2, dataset={{_base_.demo_probe_test_set}})
val_cfg = dict(svm_train_dataloader=dict(batch_size=32, num_workers=2,
                                         dataset={{_base_.demo_probe_train_set}}))
val_evaluator = {{_base_.demo_probe_evaluator}}  # standardised features (docs/probe.md)
