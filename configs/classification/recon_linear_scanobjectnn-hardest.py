# ReCon linear probe on ScanObjectNN PB-T50-RS (cfgs/linear/finetune_scan_hardest.yaml): as
# recon_mlp3_scanobjectnn-hardest.py with one Linear (4C -> 15, PyTorch's default init).
_base_ = ['./recon_mlp3_scanobjectnn-hardest.py']
model = dict(
    head=dict(_delete_=True, type='mmpretrain.LinearClsHead', num_classes=15, init_cfg=None,
              loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0)))
