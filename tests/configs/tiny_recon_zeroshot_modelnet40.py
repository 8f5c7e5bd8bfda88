# tiny_recon's zero-shot test on ModelNet40-layout data (configs/recon_zeroshot_modelnet40.py
# at toy sizes); the tests pass data_root and the random CLIP file.
_base_ = ['./tiny_recon.py']

test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ModelNet40PointDataset',
        data_root='data/ModelNet/modelnet40_normal_resampled/',
        split='test',
        num_categories=40,
        test_mode=True,
        pipeline=[
            dict(type='LoadPointCloudNpy'),
            dict(type='PointSubsample', num_points=128, method='fps'),
            dict(type='NormalizeToUnitSphere'),
            dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'category')),
        ]))
