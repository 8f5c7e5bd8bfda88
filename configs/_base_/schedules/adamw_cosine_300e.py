# AdamW 1e-3, wd 0.05, 10 linear warm-up epochs then cosine to 1e-6, 300 epochs (reference
# recipe). No weight decay on norms, biases, other 1-D parameters, CLS / mask tokens and the CLS
# position. A child changes the length with train_cfg = dict(max_epochs=N) alone: the runner
# ends the cosine at max_epochs (its `end` is left unset on purpose).
warmup_epochs = 10
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            'cls_token': dict(decay_mult=0.0),
            'cls_pos': dict(decay_mult=0.0),
            'mask_token': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
test_cfg = dict(type='TestLoop')
# the recipe's total batch; `tools/train.py --auto-scale-lr` scales lr to the real one
auto_scale_lr = dict(enable=False, base_batch_size=128)
# the same schedule with one warm-up epoch, for short runs such as the CPU demos:
#   param_scheduler = {{_base_.short_run_param_scheduler}}; train_cfg = dict(max_epochs=N)
short_run_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1,
         convert_to_iter_based=True),
]
