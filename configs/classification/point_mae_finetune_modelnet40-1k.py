# Point-MAE fine-tuned on ModelNet40 (cfgs/finetune_modelnet.yaml): 1024 points (FPS 1200, a
# random 1024), 64 groups x 32, AdamW 5e-4 / wd 0.05, batch 32, 301 epochs, drop path 0.1,
# scale + translate, the MLP head. Voting: point_mae_finetune_modelnet40-1k_vote.py.
_base_ = [
    '../_base_/models/point_classifier.py', '../_base_/datasets/modelnet40_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/point_mae_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
