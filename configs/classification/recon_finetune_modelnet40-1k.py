# ReCon fine-tuned on ModelNet40 (cfgs/full/finetune_modelnet.yaml): 1024 points (FPS 1200, a
# random 1024), 64 groups x 32, drop path 0.2, AdamW 1e-5 / wd 0.05 with 10x on the head, batch
# 32, 301 epochs, scale + translate (ReCon's runner for ModelNet), the MLP head on 4C.
# Voting: recon_finetune_modelnet40-1k_vote.py.
_base_ = [
    '../_base_/models/recon_classifier.py', '../_base_/datasets/modelnet40_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/recon_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
optim_wrapper = dict(
    optimizer=dict(lr=1e-5),
    paramwise_cfg=dict(custom_keys={'head.': dict(lr_mult=10.0, decay_mult=1.0)}))
