# ReCon fine-tuned on ScanObjectNN OBJ_ONLY (cfgs/full/finetune_scan_objonly.yaml): as the hardest
# variant.
_base_ = ['./recon_finetune_scanobjectnn-hardest.py']
variant = 'OBJ_ONLY'
train_dataloader = dict(dataset=dict(variant=variant))
val_dataloader = dict(dataset=dict(variant=variant))
test_dataloader = val_dataloader
