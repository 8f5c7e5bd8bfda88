# ACT fine-tuned on ScanObjectNN PB-T50-RS (cfgs/finetune_classification/full/
# finetune_scan_hardest.yaml): 2048 points, 128 groups x 32, AdamW 5e-4 / wd 0.05, batch 32,
# 301 epochs, drop path 0.1, the MLP head, cross-entropy; a random rotation about the up axis
# (ACT's runner uses it for every dataset).
_base_ = [
    '../_base_/models/point_classifier.py', '../_base_/datasets/scanobjectnn_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/act_pretrain/epoch_301.pth'
variant = 'PB_T50_RS'
model = dict(
    backbone=dict(num_groups=128,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=15))
train_dataloader = dict(dataset=dict(variant=variant, pipeline={{_base_.rotate_train_pipeline}}))
val_dataloader = dict(dataset=dict(variant=variant))
test_dataloader = val_dataloader
