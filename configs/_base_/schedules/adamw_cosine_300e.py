# The reference recipe (Point-MAE / ACT / ReCon runners): AdamW 1e-3, wd 0.05; timm's cosine
# stepped once per epoch (10 linear warm-up epochs from 1e-6, floor 1e-6, t_initial 300, the
# warm-up counted in the cosine's phase) one epoch behind, over the reference's 301 epochs
# (its loop runs epochs 0..max_epoch): ReferenceCosineLR. Weight decay as the reference's
# add_weight_decay: none on 1-D parameters (norms), biases and every parameter whose name
# contains 'token' (CLS / mask / query / prompt tokens); positions are decayed.
# A child changes the length with train_cfg = dict(max_epochs=N) alone: the cosine then ends
# at N - 1 (t_initial defaults to max_epochs - 1).
warmup_epochs = 10
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='ReferenceCosineLR', warmup_epochs=warmup_epochs, warmup_lr_init=1e-6,
         lr_min=1e-6, by_epoch=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=301)
test_cfg = dict(type='TestLoop')
# the recipe's total batch; `tools/train.py --auto-scale-lr` scales lr to the real one
auto_scale_lr = dict(enable=False, base_batch_size=128)
# for short runs such as the CPU demos (a few epochs leave no room for per-epoch steps one
# epoch behind): one warm-up epoch and a cosine, both updated every iteration:
#   param_scheduler = {{_base_.short_run_param_scheduler}}; train_cfg = dict(max_epochs=N)
short_run_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1,
         convert_to_iter_based=True),
]
# A deviation kept as an option: linear warm-up and cosine updated every iteration (smoother
# than the reference's per-epoch steps), ending at max_epochs:
#   param_scheduler = {{_base_.per_iter_param_scheduler}}
per_iter_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs,
         convert_to_iter_based=True),
]
