# Linear-SVM probe of the encoder during pre-training (ReCon's `validate: svm`; Point-MAE's and
# ACT's runners carry the same `validate`, never called): every `train_cfg.val_interval`
# epochs, encode ModelNet40 train and test (whole clouds, eval mode, no grad), fit
# LinearSVC on the train features, log `svm/accuracy` (percent) on test (SVMProbeValLoop +
# SVMProbeAccuracy; docs/probe.md). The references' data: ModelNet40 FPS-sampled to 8192
# points (their `_8192pts_fps.dat`), normalised to the unit sphere, then FPS to 1024.
# Train without the probe (no ModelNet40 at hand):
#   --cfg-options val_cfg=None val_dataloader=None val_evaluator=None
# Another classification set in the ShapeNet-55 layout: see configs/point_mae_pretrain_demo.py.
probe_data_root = 'data/ModelNet/modelnet40_normal_resampled/'
probe_pipeline = [
    dict(type='LoadPointCloudNpy'),  # reads the x,y,z,nx,ny,nz .txt files, keeps xyz
    dict(type='PointSubsample', num_points=8192, method='fps'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='PointSubsample', num_points=1024, method='fps'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'category')),
]
probe_loader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False))
probe_dataset = dict(
    type='ModelNet40PointDataset',
    data_root=probe_data_root,
    num_categories=40,
    test_mode=True,
    pipeline=probe_pipeline)

# the test split scores the SVM ...
val_dataloader = dict(**probe_loader, dataset=dict(split='test', **probe_dataset))
# ... fit on the train split; feature: see pt3kd_mm/evaluation/probe_features.py
val_cfg = dict(
    type='SVMProbeValLoop',
    feature='max_mean',
    svm_train_dataloader=dict(**probe_loader, dataset=dict(split='train', **probe_dataset)))
# C: Point-MAE's / ACT's validation LinearSVC() = 1.0; ReCon's 0.075 (set in recon_pretrain.py)
val_evaluator = dict(type='SVMProbeAccuracy', C=1.0)

# The probe on a classification set in the ShapeNet-55 layout (class = synset), here the demo
# objects of tools/create_demo_data.py; the demo configs use them as
#   val_dataloader = dict(dataset={{_base_.demo_probe_test_set}})
#   val_cfg = dict(svm_train_dataloader=dict(dataset={{_base_.demo_probe_train_set}}))
#   val_evaluator = {{_base_.demo_probe_evaluator}}
# with standardised features (a deviation: on 240 clouds the raw-feature SVM under-uses
# pre-trained tokens, which vary little around a large per-dimension offset; docs/probe.md)
demo_probe_pipeline = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=1024, method='fps'),
    dict(type='NormalizeToUnitSphere'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'category')),
]
demo_probe_set = dict(
    _delete_=True,  # replaces the ModelNet40 dataset above
    type='ShapeNet55Dataset',
    data_root='data/demo_shapenet/',
    names_file=None,  # classes = the synsets of train.txt + test.txt, the same ids in both
    test_mode=True,
    pipeline=demo_probe_pipeline)
demo_probe_train_set = dict(ann_file='ShapeNet-55/train.txt', **demo_probe_set)
demo_probe_test_set = dict(ann_file='ShapeNet-55/test.txt', **demo_probe_set)
demo_probe_evaluator = dict(standardize=True)
