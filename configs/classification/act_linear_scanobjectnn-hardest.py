# ACT linear probe on ScanObjectNN PB-T50-RS (cfgs/finetune_classification/linear/
# finetune_scan_hardest_linear.yaml): encoder frozen except its CLS token and position (the
# reference keeps names with 'cls' trainable), one Linear (PyTorch's default init) on
# concat(CLS, max-pool), AdamW 1e-3. Other datasets: the same overrides on their full config.
_base_ = ['./act_finetune_scanobjectnn-hardest.py']
model = dict(
    freeze_backbone=True,
    head=dict(_delete_=True, type='mmpretrain.LinearClsHead', num_classes=15, init_cfg=None,
              loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0)))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
