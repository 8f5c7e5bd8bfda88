# Zero-shot ModelNet40 classification with a ReCon model pre-trained in the CLIP setting:
#   python tools/test.py configs/recon_zeroshot_modelnet40.py \
#       work_dirs/recon_clip_pretrain/epoch_301.pth
# Protocol: the test split of modelnet40_normal_resampled (Point-BERT layout), 1024 points by
# FPS, unit sphere, no voting; the 40 class names in the 60 ReCon templates, text features
# summed per class; cosine similarity with img_head(img query) + 0.25 * text_head(text query).
# The reference script scores train + test together; split='train' gives the other half.
# ModelNet10: num_categories=10.
_base_ = ['./recon_clip_pretrain.py']

modelnet_root = 'data/ModelNet/modelnet40_normal_resampled/'
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ModelNet40PointDataset',
        data_root=modelnet_root,
        split='test',
        num_categories=40,
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))  # LoadPointCloudNpy reads the .txt files too
