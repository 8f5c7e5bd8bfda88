# ACT stage 1 on ShapeNet-55 as the reference runs it: batch 64, AdamW 5e-4 / wd 5e-4 (none on
# 1-D parameters, biases, norms and the prompt tokens: the schedule base's no-decay groups), no
# gradient clipping, no point augmentation; Gumbel temperature cosine 1 -> 0.0625 over 100k
# iterations, KL weight 0 for 10k iterations then cosine 0 -> 0.1 over 100k; 301 epochs,
# per-epoch cosine with 10 warm-up epochs (the schedule base).
_base_ = [
    './_base_/models/act_autoencoder.py',
    './_base_/datasets/shapenet55_pretrain.py',
    './_base_/schedules/adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]

model = {{_base_.act_autoencoder}}
train_dataloader = dict(batch_size=64, dataset=dict(pipeline={{_base_.train_pipeline_no_aug}}))
optim_wrapper = dict(optimizer=dict(lr=5e-4, weight_decay=5e-4))
custom_hooks = [
    dict(type='CosineScheduleHook', attr='gumbel_tau', start=1.0, end=0.0625,
         num_iters=100000),
    dict(type='CosineScheduleHook', attr='kl_weight', start=0.0, end=0.1, num_iters=100000,
         begin_iter=10000),
]
# stage 1 has no masked-reconstruction metric
test_dataloader = None
test_evaluator = None
test_cfg = None
auto_scale_lr = dict(base_batch_size=64)
