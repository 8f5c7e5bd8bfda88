# ReCon fine-tuned on ModelNet40 with 8192 points and 512 groups x 32
# (cfgs/full/finetune_modelnet_8k.yaml); otherwise as the 1k config.
_base_ = [
    '../_base_/models/recon_classifier.py', '../_base_/datasets/modelnet40_8k_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/recon_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(num_groups=512,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
optim_wrapper = dict(
    optimizer=dict(lr=1e-5),
    paramwise_cfg=dict(custom_keys={'head.': dict(lr_mult=10.0, decay_mult=1.0)}))
