"""configs/classification: every config builds (small sizes) and carries the reference
recipe of its method and protocol."""
import glob
import os.path as osp

import h5py
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmdet3d.registry import DATASETS, MODELS
from pt3kd_mm.testing import REPO

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'classification', '*.py')))
NAMES = [osp.basename(p) for p in CONFIGS]


def load(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'classification', name))


def small(model_cfg):
    model_cfg = model_cfg.copy()
    model_cfg.backbone.update(embed_dims=32, depth=1, num_heads=2, num_groups=16, group_size=8,
                              init_cfg=None)
    return model_cfg


def test_the_protocol_set_is_complete():
    for method in ('point_mae', 'act', 'recon'):
        for protocol in ('finetune_modelnet40-1k', 'finetune_modelnet40-8k',
                         'finetune_modelnet40-1k_vote', 'finetune_scanobjectnn-objbg',
                         'finetune_scanobjectnn-objonly', 'finetune_scanobjectnn-hardest',
                         'fewshot_modelnet40'):
            assert f'{method}_{protocol}.py' in NAMES
    for method in ('act', 'recon'):
        for probe in ('linear', 'mlp3'):
            assert f'{method}_{probe}_scanobjectnn-hardest.py' in NAMES


@pytest.mark.parametrize('name', NAMES)
def test_config_builds_with_the_reference_sizes(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmdet3d' and cfg.custom_imports['imports'] == ['pt3kd_mm']
    backbone = cfg.model.backbone
    scan = 'scanobjectnn' in name
    assert backbone.embed_dims == 384 and backbone.depth == 12 and backbone.num_heads == 6
    assert backbone.num_groups == (128 if scan else 512 if '8k' in name else 64)
    assert backbone.group_size == 32
    assert cfg.model.head.num_classes == (15 if scan else 40)
    if 'vote' not in name:
        assert backbone.init_cfg.type == 'Pretrained' and backbone.init_cfg.prefix == 'backbone.'
    recon = name.startswith('recon')
    assert backbone.type == ('ReConPointTransformer' if recon else 'PointPatchTransformer')
    assert backbone.drop_path_rate == (0.2 if recon and 'fewshot' not in name else 0.1)
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.optim_wrapper.clip_grad.max_norm == 10
    assert cfg.train_cfg.max_epochs == (151 if 'fewshot' in name else 301)
    assert cfg.val_evaluator.type == 'mmpretrain.Accuracy'
    model = MODELS.build(small(cfg.model))
    prefix = 3 if recon else 1
    width = (prefix + 1) * 32
    head_in = (model.head.fc.in_features if 'linear' in name else
               model.head.layers[0].fc.in_features)
    assert head_in == width
    logits = model.eval()(dict(points=torch.rand(2, 64, 3)), mode='tensor')
    assert logits.shape == (2, cfg.model.head.num_classes)


# (config, lr, augmentation of the training pipeline) as each reference yaml / runner has it
RECIPES = [
    ('point_mae_finetune_scanobjectnn-hardest.py', 5e-4, 'RandomScaleTranslate'),
    ('point_mae_finetune_modelnet40-1k.py', 5e-4, 'RandomScaleTranslate'),
    ('point_mae_fewshot_modelnet40.py', 5e-4, 'RandomScaleTranslate'),
    ('act_finetune_scanobjectnn-objbg.py', 5e-4, 'RandomRotateUpAxis'),
    ('act_finetune_modelnet40-1k.py', 5e-4, 'RandomRotateUpAxis'),
    ('act_finetune_modelnet40-8k.py', 5e-4, 'RandomRotateUpAxis'),
    ('act_linear_scanobjectnn-hardest.py', 1e-3, 'RandomRotateUpAxis'),
    ('act_mlp3_scanobjectnn-hardest.py', 1e-3, 'RandomRotateUpAxis'),
    ('recon_finetune_scanobjectnn-objonly.py', 2e-5, 'RandomRotateUpAxis'),
    ('recon_finetune_modelnet40-1k.py', 1e-5, 'RandomScaleTranslate'),
    ('recon_finetune_modelnet40-8k.py', 1e-5, 'RandomScaleTranslate'),
    ('recon_fewshot_modelnet40.py', 5e-4, 'RandomRotateUpAxis'),
    ('recon_linear_scanobjectnn-hardest.py', 1e-4, 'RandomRotateUpAxis'),
]


@pytest.mark.parametrize('name,lr,aug', RECIPES)
def test_learning_rate_and_augmentation(name, lr, aug):
    cfg = load(name)
    assert cfg.optim_wrapper.optimizer.lr == lr
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert aug in types and not ({'RandomScaleTranslate', 'RandomRotateUpAxis'} - {aug}) & set(
        types)
    if 'RandomRotateUpAxis' in types:
        rot = cfg.train_dataloader.dataset.pipeline[types.index('RandomRotateUpAxis')]
        assert rot['up_axis'] == 1 and rot['angle_range'] == (0., 2 * np.pi)
    assert cfg.model.get('freeze_backbone', False) == ('linear' in name or 'mlp3' in name)


def test_point_sampling_of_each_dataset():
    mn = load('point_mae_finetune_modelnet40-1k.py')
    sub = mn.train_dataloader.dataset.pipeline[1]
    assert (sub.type, sub.num_points, sub.num_candidates) == ('FPSRandomSubsample', 1024, 1200)
    fps = dict(type='PointSubsample', num_points=1024, method='fps')
    assert mn.test_dataloader.dataset.pipeline[1] == fps
    assert mn.train_dataloader.dataset.processed_file == \
        'modelnet{num_categories}_{split}_8192pts_fps.dat'
    k8 = load('act_finetune_modelnet40-8k.py')
    assert k8.train_dataloader.dataset.pipeline[1].num_points == 8192
    assert [t['type'] for t in k8.test_dataloader.dataset.pipeline] == [
        'NormalizeToUnitSphere', 'PackPointClsInputs']
    for name, variant in (('objbg', 'OBJ_BG'), ('objonly', 'OBJ_ONLY'),
                          ('hardest', 'PB_T50_RS')):
        cfg = load(f'recon_finetune_scanobjectnn-{name}.py')
        assert cfg.train_dataloader.dataset.variant == variant
        assert cfg.test_dataloader.dataset.variant == variant
        assert cfg.val_dataloader.dataset.split == 'test'


@pytest.mark.parametrize('method,translate', [('point_mae', 0.2), ('act', 0.2), ('recon', None)])
def test_vote_configs(method, translate):
    cfg = load(f'{method}_finetune_modelnet40-1k_vote.py')
    vote = cfg.model.vote
    assert vote.num_votes == 10 and vote.num_points == 1024
    assert vote.scale_range == (2. / 3., 3. / 2.) and vote.get('translate_range') == translate
    assert cfg.test_dataloader.dataset.pipeline[1] == dict(type='PointSubsample',
                                                           num_points=1200, method='fps')
    # training is unchanged: the vote is a test mode
    assert cfg.train_dataloader.dataset.pipeline[1].type == 'FPSRandomSubsample'


def test_recon_head_learns_ten_times_faster():
    cfg = load('recon_finetune_scanobjectnn-hardest.py')
    model = MODELS.build(small(cfg.model))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of, decay_of = {}, {}
    ids = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[ids[id(p)]], decay_of[ids[id(p)]] = group['lr'], group['weight_decay']
    assert lr_of['head.layers.0.fc.weight'] == pytest.approx(2e-4)
    assert decay_of['head.layers.0.norm.bias'] == 0.05  # the reference's 'cls' group decays all
    assert lr_of['backbone.transformer.blocks.0.attn.qkv.weight'] == pytest.approx(2e-5)
    assert decay_of['backbone.norm.weight'] == 0.0 and decay_of['backbone.query_tokens'] == 0.0


def test_scanobjectnn_config_reads_and_samples(tmp_path):
    for split in ('training', 'test'):
        path = tmp_path / 'main_split' / f'{split}_objectdataset_augmentedrot_scale75.h5'
        path.parent.mkdir(exist_ok=True)
        with h5py.File(path, 'w') as f:
            f.create_dataset('data', data=np.random.rand(2, 2048, 3).astype(np.float32))
            f.create_dataset('label', data=np.array([3, 9]))
    cfg = load('recon_finetune_scanobjectnn-hardest.py')
    for loader in ('train_dataloader', 'test_dataloader'):
        ds_cfg = cfg[loader].dataset.copy()
        ds_cfg.data_root = str(tmp_path)
        sample = DATASETS.build(ds_cfg)[1]
        assert sample['inputs']['points'].shape == (2048, 3)
        assert int(sample['data_samples'].gt_label) == 9
