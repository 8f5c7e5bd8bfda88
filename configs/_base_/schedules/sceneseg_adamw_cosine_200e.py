# Scene-segmentation schedule. REFERENCE.md gives no recipe for it (the seed paper reports 46.4
# mIoU without one), so: the lineage's dense fine-tuning optimiser (the part-segmentation
# recipe: AdamW lr 2e-4, wd 0.05 without decay on norms, biases and 'token' names, gradient
# clipping at norm 10, 10 warm-up epochs then timm's per-epoch cosine) over mmdet3d's ScanNet
# segmentation length (200 epochs, total batch 16 = 2 GPUs x 8 blocks, validation every 5).
_base_ = ['./adamw_cosine_300e.py']

optim_wrapper = dict(optimizer=dict(lr=2e-4), clip_grad=dict(max_norm=10, norm_type=2))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=16)
