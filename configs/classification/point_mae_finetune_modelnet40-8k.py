# Point-MAE fine-tuned on ModelNet40 with 8192 points and 512 groups x 32
# (cfgs/finetune_modelnet_8k.yaml); otherwise as the 1k config.
_base_ = [
    '../_base_/models/point_classifier.py', '../_base_/datasets/modelnet40_8k_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/point_mae_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(num_groups=512,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
