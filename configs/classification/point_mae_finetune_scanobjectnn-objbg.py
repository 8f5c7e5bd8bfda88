# Point-MAE fine-tuned on ScanObjectNN OBJ_BG (cfgs/finetune_scan_objbg.yaml): as the
# hardest variant.
_base_ = ['./point_mae_finetune_scanobjectnn-hardest.py']
variant = 'OBJ_BG'
train_dataloader = dict(dataset=dict(variant=variant))
val_dataloader = dict(dataset=dict(variant=variant))
test_dataloader = val_dataloader
