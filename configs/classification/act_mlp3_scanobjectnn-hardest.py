# ACT MLP-3 probe on ScanObjectNN PB-T50-RS (cfgs/finetune_classification/mlp3/
# finetune_scan_hardest_mlp3.yaml): encoder frozen except its CLS token and position, the MLP
# head trained, AdamW 1e-3.
_base_ = ['./act_finetune_scanobjectnn-hardest.py']
model = dict(freeze_backbone=True)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
