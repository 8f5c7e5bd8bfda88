# Point-MAE few-shot ModelNet40 (cfgs/fewshot.yaml): one fold; run all 10 folds with
#   python tools/fewshot.py configs/classification/point_mae_fewshot_modelnet40.py --way 5 --shot 10
# AdamW 5e-4, 151 epochs (0..150), drop path 0.1, scale + translate, 40-way MLP head.
_base_ = [
    '../_base_/models/point_classifier.py', '../_base_/datasets/modelnet40_fewshot_cls.py',
    '../_base_/schedules/finetune_adamw_300e.py'
]
pretrained = 'work_dirs/point_mae_pretrain/epoch_301.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=40))
train_cfg = dict(max_epochs=151)
