# The reference fine-tuning recipe (Point-MAE / ACT / ReCon cfgs/finetune_*.yaml): AdamW lr 5e-4
# (a leaf sets its method's lr), wd 0.05 with the reference's add_weight_decay groups, total
# batch 32, gradient clipping at norm 10 (the fine-tuning runners apply it), the per-epoch
# cosine with 10 warm-up epochs over 301 epochs (0..300); validation on the test split after
# every epoch, the best accuracy kept (the references report their best epoch). It brings the
# runtime too (its checkpoint hook keeps the best epoch).
_base_ = ['./adamw_cosine_300e.py', '../default_runtime.py']

optim_wrapper = dict(optimizer=dict(lr=5e-4), clip_grad=dict(max_norm=10, norm_type=2))
train_cfg = dict(max_epochs=301, val_interval=1)
val_cfg = dict(type='ValLoop')
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1, save_last=True,
                    save_best='accuracy/top1', rule='greater'))
