# The reference part-segmentation recipe (Point-MAE / ACT segmentation/main.py): batch 16,
# AdamW lr 2e-4, wd 0.05 (none on 1-D parameters, biases, 'token' names), 300 epochs, timm's
# cosine stepped per epoch one epoch behind (10 warm-up epochs from 1e-6, floor 1e-6,
# t_initial 300), and two optimiser steps per batch: raw gradients, then clipped to norm 10
# (DoubleStepOptimWrapper; type='OptimWrapper' gives one clipped step).
_base_ = ['./adamw_cosine_300e.py']

optim_wrapper = dict(
    type='DoubleStepOptimWrapper',
    optimizer=dict(lr=2e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='ReferenceCosineLR', t_initial=300, warmup_epochs=10, warmup_lr_init=1e-6,
         lr_min=1e-6, by_epoch=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=16)
