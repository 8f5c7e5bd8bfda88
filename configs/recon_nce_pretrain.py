# ReCon with the paper's contrastive alignment: symmetric InfoNCE (temperature 0.07, in-batch
# negatives of each process, identical teacher targets are not negatives) instead of SmoothL1.
_base_ = ['./recon_pretrain.py']

model = dict(
    img_head=dict(loss=dict(_delete_=True, type='SymmetricInfoNCELoss', temperature=0.07,
                            loss_weight=1.0)),
    text_head=dict(loss=dict(_delete_=True, type='SymmetricInfoNCELoss', temperature=0.07,
                             loss_weight=1.0)))
