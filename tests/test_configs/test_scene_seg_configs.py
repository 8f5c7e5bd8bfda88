"""The ScanNet scene-segmentation configs parse, inherit mmdet3d's dataset, build the widths they
name, load each pre-training's encoder strictly, and the linear probes train only the head."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO

CONFIG_DIR = osp.join(REPO, 'configs', 'scene_segmentation')
FINETUNE = {
    'point_mae': 'pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py',
    'act': 'pointscene-seg_act-enc_2xb8-200e_scannet-seg.py',
    'recon': 'pointscene-seg_recon-enc_2xb8-200e_scannet-seg.py',
}
LINEAR = {k: v.replace('pointscene-seg_', 'pointscene-linear_') for k, v in FINETUNE.items()}
PRETRAIN = {'point_mae': 'point_mae_pretrain.py', 'act': 'act_pretrain.py',
            'recon': 'recon_pretrain.py'}


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_every_config_is_covered():
    names = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))}
    assert names == set(FINETUNE.values()) | set(LINEAR.values()) | {
        'pointscene-seg_scratch_2xb8-200e_scannet-seg.py',
        'pointscene-seg_point-mae-enc_1xb2-10e_scannet-demo-seg.py'}


@pytest.mark.parametrize('name', sorted(glob.glob(osp.join(CONFIG_DIR, '*.py'))))
def test_dataset_recipe_and_widths(name):
    cfg = Config.fromfile(name)
    assert cfg.default_scope == 'mmdet3d' and cfg.custom_imports['imports'] == ['pt3kd_mm']
    train = cfg.train_dataloader.dataset
    assert train.type == 'ScanNetSegDataset' and train.ignore_index == 20
    assert len(cfg.class_names) == 20 and cfg.val_evaluator.type == 'SegMetric'
    sample = [t for t in train.pipeline if t.type == 'IndoorPatchPointSample'][0]
    assert (sample.num_points, sample.block_size) == (8192, 1.5)
    # the fix of mmdet3d's test pipeline: labels mapped before SegMetric reads them
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        kinds = [t.type for t in loader.dataset.pipeline]
        assert kinds.index('PointSegClassMapping') == kinds.index('LoadAnnotations3D') + 1
    backbone = cfg.model.backbone
    assert (backbone.embed_dims, backbone.depth, backbone.num_heads) == (384, 12, 6)
    assert (backbone.num_groups, backbone.group_size, backbone.out_indices) == (256, 32,
                                                                                (3, 7, 11))
    test_cfg = cfg.model.test_cfg
    assert (test_cfg.mode, test_cfg.num_points, test_cfg.block_size) == ('chunk', 8192, 1.5)
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05


@pytest.mark.parametrize('method', sorted(FINETUNE))
def test_finetune_and_linear_probe(method, tmp_path):
    """Each method's pre-training checkpoint loads into the segmentor's encoder with every key
    (strict); the probe freezes it and leaves one linear layer to learn."""
    # the pre-training's student encoder, saved under 'backbone.' as its runner saves it
    pre = MODELS.build(
        Config.fromfile(osp.join(REPO, 'configs', PRETRAIN[method])).model.backbone)
    wanted = pre.state_dict()
    ckpt = str(tmp_path / 'pre.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in wanted.items()}, meta=dict()),
               ckpt)
    for name, linear in ((FINETUNE[method], False), (LINEAR[method], True)):
        cfg = load(name)
        assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
        assert f'{method}_pretrain' in cfg.model.backbone.init_cfg.checkpoint
        cfg.model.backbone.init_cfg.checkpoint = ckpt
        model = MODELS.build(cfg.model)
        model.init_weights()
        got = model.backbone.state_dict()
        shared = set(wanted) & set(got)
        # every encoder tensor of the segmentor comes from the checkpoint (the ACT / Point-MAE
        # students' CLS token is the only pre-training key left out)
        assert set(got) <= set(wanted), sorted(set(got) - set(wanted))
        assert all(torch.equal(got[k], wanted[k]) for k in shared)
        head = model.decode_head
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        trained = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']
                   if p.requires_grad}
        if linear:
            assert model.freeze_backbone and cfg.optim_wrapper.optimizer.lr == 1e-3
            assert [n for n, _ in head.named_parameters()] == ['conv_seg.weight',
                                                               'conv_seg.bias']
            assert head.conv_seg.in_channels == 3 * 384
            assert trained == {id(p) for p in head.parameters()}
        else:
            assert not model.freeze_backbone and cfg.optim_wrapper.optimizer.lr == 2e-4
            assert head.propagation.mlp_convs[0].in_channels == 6 + 1152
            assert [c.out_channels for c in head.propagation.mlp_convs] == [1536, 1024]
            assert head.mlp[0].conv.in_channels == 1024 + 2 * 1152
            assert [m.conv.out_channels for m in head.mlp] == [512, 256]
            assert head.dropout.p == 0.5 and head.conv_seg.out_channels == 20
            assert id(model.backbone.transformer.blocks[0].attn.qkv.weight) in trained
    if method == 'recon':
        assert type(model.backbone).__name__ == 'ReConPointTransformer'
        assert not model.backbone.detach_local
