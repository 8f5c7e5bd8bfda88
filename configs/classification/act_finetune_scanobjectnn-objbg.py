# ACT fine-tuned on ScanObjectNN OBJ_BG (cfgs/finetune_classification/full/
# finetune_scan_objbg.yaml): as the hardest variant.
_base_ = ['./act_finetune_scanobjectnn-hardest.py']
variant = 'OBJ_BG'
train_dataloader = dict(dataset=dict(variant=variant))
val_dataloader = dict(dataset=dict(variant=variant))
test_dataloader = val_dataloader
