# ReCon MLP-3 probe on ScanObjectNN PB-T50-RS (cfgs/mlp3/finetune_scan_hardest.yaml): encoder
# frozen except the cls query and its position (the reference keeps names with 'cls'
# trainable), AdamW 1e-4 with 10x on the head and the cls query (its builder), the MLP head.
# The query parameters hold cls / img / text: only the cls row gets a gradient, and they are
# not weight-decayed (so the frozen rows stay as loaded).
_base_ = ['./recon_finetune_scanobjectnn-hardest.py']
model = dict(freeze_backbone=True)
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(custom_keys={
        'head.': dict(lr_mult=10.0, decay_mult=1.0),
        'query_tokens': dict(lr_mult=10.0, decay_mult=0.0),
        'query_pos': dict(lr_mult=10.0, decay_mult=0.0)
    }))
