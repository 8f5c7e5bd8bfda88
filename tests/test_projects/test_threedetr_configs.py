"""The project's configs: every one parses and builds; the pre-trained encoders of every
pre-training algorithm load into the detector with no missing encoder key; a user's config
swaps the checkpoint or the encoder size in a few lines."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO

CONFIGS = sorted(glob.glob(osp.join(REPO, 'projects/ThreeDETR/configs/*.py')))
FULL = [p for p in CONFIGS if 'demo' not in p]  # the reference schedules
POINT_MAE = osp.join(REPO, 'projects/ThreeDETR/configs/'
                     'threedetr_point-mae-enc_8xb8-1080e_scannet-3d.py')


def test_configs_follow_openmmlab_names_and_mmdet3d_parts():
    names = [osp.basename(p) for p in CONFIGS]
    for enc in ('3detr', 'point-mae', 'act', 'recon'):
        assert f'threedetr_{enc}-enc_8xb8-1080e_scannet-3d.py' in names
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        if path not in FULL:
            assert cfg.train_dataloader.dataset.dataset.data_root == 'data/scannet_demo/'
            continue
        assert cfg.default_scope == 'mmdet3d'
        assert cfg.custom_imports['imports'] == ['projects.ThreeDETR.threedetr']
        dataset = cfg.train_dataloader.dataset.dataset
        assert dataset.type == 'ScanNetDataset' and len(dataset.metainfo.classes) == 18
        assert cfg.val_evaluator.type == 'IndoorMetric'
        assert cfg.model.data_preprocessor.type == 'Det3DDataPreprocessor'
        assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=5e-4, weight_decay=0.1)
        assert cfg.optim_wrapper.clip_grad.max_norm == 0.1
        assert cfg.train_cfg.max_epochs == 1080 and cfg.train_dataloader.batch_size == 8
        assert [t['type'] for t in cfg.train_pipeline] == [
            'LoadPointsFromFile', 'LoadAnnotations3D', 'GlobalAlignment', 'PointSample',
            'RandomFlip3D', 'GlobalRotScaleTrans', 'Pack3DDetInputs']


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_every_config_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)  # weights are not loaded before init_weights()
    head = model.bbox_head
    assert head.in_channels == model.backbone.embed_dims
    assert head.num_queries == 256 and len(head.decoder.layers) == 8
    assert head.heads['cls_logits'][-1].out_channels == 19
    assert head.heads['angle_logits'][-1].out_channels == 12


def save_pretrained(tmp_path, name, model_cfg):
    """A pre-training checkpoint as mmengine writes it (meta + state_dict)."""
    model = MODELS.build(model_cfg)
    path = str(tmp_path / f'{name}.pth')
    torch.save(dict(meta=dict(epoch=300), state_dict=model.state_dict()), path)
    return path, {k[len('backbone.'):]: v for k, v in model.state_dict().items()
                  if k.startswith('backbone.')}


SMALL = dict(embed_dims=32, depth=2, num_heads=2, num_groups=64, group_size=8)


@pytest.mark.parametrize('algo', ['point-mae', 'act', 'recon'])
def test_pretrained_encoder_loads_without_missing_keys(tmp_path, algo):
    pre_cfg = Config.fromfile(osp.join(
        REPO, 'configs', 'recon_pretrain.py' if algo == 'recon' else 'point_mae_pretrain.py'))
    pre_cfg.model.backbone.update(SMALL)
    pre_cfg.model.neck.update(depth=1, num_heads=2)
    if algo == 'act':  # the ACT student is the Point-MAE encoder with a CLS token
        pre_cfg.model.backbone.with_cls_token = True
    ckpt, expected = save_pretrained(tmp_path, algo, pre_cfg.model)
    cfg = Config.fromfile(osp.join(REPO, 'projects/ThreeDETR/configs',
                                   f'threedetr_{algo}-enc_8xb8-1080e_scannet-3d.py'))
    cfg.model.backbone.update(SMALL)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    model = MODELS.build(cfg.model)
    model.init_weights()
    got = model.backbone.state_dict()
    assert set(got) == set(expected), (set(got) ^ set(expected))
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def test_user_project_swaps_checkpoint_and_size(tmp_path):
    user = tmp_path / 'my_threedetr.py'
    user.write_text(f"_base_ = ['{POINT_MAE}']\n"
                    "model = dict(backbone=dict(\n"
                    "    embed_dims=256, num_heads=4, depth=8,\n"
                    "    init_cfg=dict(checkpoint='work_dirs/mine/epoch_100.pth')))\n")
    cfg = Config.fromfile(str(user))
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', prefix='backbone.',
                                               checkpoint='work_dirs/mine/epoch_100.pth')
    model = MODELS.build(cfg.model)
    assert model.bbox_head.in_channels == 256 and len(model.backbone.transformer.blocks) == 8


def test_head_width_disagreeing_with_the_encoder_is_an_error():
    cfg = Config.fromfile(POINT_MAE)
    cfg.model.bbox_head.in_channels = 256
    with pytest.raises(ValueError, match=r'model\.bbox_head\.in_channels = 256 but '
                                         r'model\.backbone\.embed_dims = 384'):
        MODELS.build(cfg.model)
