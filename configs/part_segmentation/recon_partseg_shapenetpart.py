# ReCon part segmentation on ShapeNetPart (ReCon segmentation/): the ReCon encoder (renorm
# blocks + 3 global queries, no stop-gradient when fine-tuning); the max over the queries as the
# last block outputs them (before the final norm) joins the global feature; lr 1e-4 with 10x on
# the head parameters whose name contains 'conv' (label_conv incl. its BN, the propagation
# convs, conv1 / conv2 / conv_seg; weight decay 0.05 on all of them, biases included):
#   python tools/train.py configs/part_segmentation/recon_partseg_shapenetpart.py
_base_ = ['./point_mae_partseg_shapenetpart.py']
pretrained = 'work_dirs/recon_pretrain/epoch_301.pth'
model = dict(
    query_feature=True,
    backbone=dict(
        type='ReConPointTransformer',
        num_queries=3,
        detach_local=False,
        init_cfg=dict(checkpoint=pretrained)))
head_10x = dict(lr_mult=10.0, decay_mult=1.0)
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(custom_keys={
        'decode_head.label_conv': head_10x,
        'decode_head.propagation.mlp_convs': head_10x,
        'decode_head.conv': head_10x,
    }))
# the reference evaluates with batch 32
test_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
