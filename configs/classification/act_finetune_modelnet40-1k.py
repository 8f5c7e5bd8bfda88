# ACT fine-tuned on ModelNet40 (cfgs/finetune_classification/full/finetune_modelnet.yaml): 1024
# points (FPS 1200, a random 1024), 64 groups x 32, AdamW 5e-4 / wd 0.05, batch 32, 301 epochs,
# drop path 0.1, rotation about the up axis (ACT's runner), the MLP head.
# Voting: act_finetune_modelnet40-1k_vote.py.
_base_ = [
    '../_base_/models/point_classifier.py', '../_base_/datasets/modelnet40_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/act_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
train_dataloader = dict(dataset=dict(pipeline={{_base_.rotate_train_pipeline}}))
