# ReCon fine-tuned on ScanObjectNN PB-T50-RS (cfgs/full/finetune_scan_hardest.yaml): 2048
# points, 128 groups x 32, drop path 0.2, AdamW 2e-5 / wd 0.05 with 10x the learning rate (and
# full weight decay) on the head (the reference's builder: names with 'cls'), batch 32, 301
# epochs, rotation about the up axis (ReCon's runner for ScanObjectNN), concat(cls, img, text,
# max-pool) -> the MLP head.
_base_ = [
    '../_base_/models/recon_classifier.py', '../_base_/datasets/scanobjectnn_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/recon_pretrain/epoch_301.pth'
variant = 'PB_T50_RS'
model = dict(
    backbone=dict(num_groups=128,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=15))
optim_wrapper = dict(
    optimizer=dict(lr=2e-5),
    paramwise_cfg=dict(custom_keys={'head.': dict(lr_mult=10.0, decay_mult=1.0)}))
train_dataloader = dict(dataset=dict(variant=variant, pipeline={{_base_.rotate_train_pipeline}}))
val_dataloader = dict(dataset=dict(variant=variant))
test_dataloader = val_dataloader
