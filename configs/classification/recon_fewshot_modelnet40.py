# ReCon few-shot ModelNet40 (cfgs/full/fewshot.yaml): one fold; run all 10 folds with
#   python tools/fewshot.py configs/classification/recon_fewshot_modelnet40.py --way 5 --shot 10
# AdamW 5e-4 with 10x on the head, 151 epochs (0..150), drop path 0.1, rotation about the up
# axis (ReCon's runner: the few-shot set is not named ModelNet), 40-way MLP head.
_base_ = [
    '../_base_/models/recon_classifier.py', '../_base_/datasets/modelnet40_fewshot_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/recon_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    paramwise_cfg=dict(custom_keys={'head.': dict(lr_mult=10.0, decay_mult=1.0)}))
train_cfg = dict(max_epochs=151)
train_dataloader = dict(dataset=dict(pipeline={{_base_.rotate_train_pipeline}}))
