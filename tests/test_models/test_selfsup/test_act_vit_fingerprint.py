"""ACT stage 1 records the 2D weights it was trained with; stage 2 refuses another 2D file."""
import copy
import os.path as osp
import shutil
import warnings

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import get_state_dict

from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers.frozen_vit_blocks import read_vit_record
from pt3kd_mm.testing import REPO
from pt3kd_mm.utils.teacher_cache import file_sha256


def _tiny_vit(path, seed):
    torch.manual_seed(seed)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    torch.save(vit.state_dict(), path)
    return str(path)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """tests/configs/tiny_act_pretrain.py, a stage-1 checkpoint trained (here: built) with
    vit_a.pth, and vit_b.pth: another 2D file of the same shape."""
    tmp = tmp_path_factory.mktemp('act_fp')
    vit_a, vit_b = _tiny_vit(tmp / 'vit_a.pth', 0), _tiny_vit(tmp / 'vit_b.pth', 1)
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_act_pretrain.py'))
    cfg.model.teacher.model.vit_blocks.checkpoint = vit_a
    stage1 = MODELS.build(cfg.model.teacher.model)
    stage1.init_weights()
    # what the runner saves (mmengine's get_state_dict) carries the record
    state = get_state_dict(stage1)
    torch.save({'state_dict': state, 'meta': {}}, tmp / 'stage1.pth')
    cfg.model.teacher.checkpoint = str(tmp / 'stage1.pth')
    return cfg, tmp, vit_a, vit_b, state


def stage2(cfg, vit, checkpoint=None, **teacher_model):
    cfg = copy.deepcopy(cfg)
    cfg.model.teacher.model.vit_blocks.checkpoint = vit
    cfg.model.teacher.model.update(teacher_model)
    if checkpoint:
        cfg.model.teacher.checkpoint = checkpoint
    return MODELS.build(cfg.model)


def test_stage1_state_dict_records_the_2d_file(setup):
    _, _, vit_a, _, state = setup
    record = read_vit_record(state['weights_2d_record'])
    assert record['file_sha256'] == file_sha256(vit_a) and record['file'] == vit_a
    assert record['source'] == 'timm' and record['embed_dims'] == 32
    assert record['num_blocks'] == 2 and record['arch']['num_heads'] == 2
    # a tensor: it survives torch.save / the safe loader (weights_only=True)
    loaded = torch.load(setup[1] / 'stage1.pth', map_location='cpu', weights_only=True)
    assert torch.equal(loaded['state_dict']['weights_2d_record'], state['weights_2d_record'])


def test_stage2_same_2d_file_loads(setup, tmp_path):
    cfg, _, vit_a, _, _ = setup
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no fingerprint warning
        stage2(cfg, vit_a)
        # the same weights under another path are the same 2D weights (content, not path)
        stage2(cfg, shutil.copy(vit_a, tmp_path / 'moved_vit.pth'))


def test_stage2_other_2d_file_is_refused(setup):
    cfg, tmp, vit_a, vit_b, _ = setup
    with pytest.raises(ValueError) as info:
        stage2(cfg, vit_b)
    msg = str(info.value)
    for part in (str(tmp / 'stage1.pth'), vit_a, file_sha256(vit_a), vit_b, file_sha256(vit_b),
                 'model.teacher.model.vit_blocks.checkpoint'):
        assert part in msg, part
    # the expert's opt-out warns instead
    with pytest.warns(UserWarning, match='trained with the 2D weights'):
        stage2(cfg, vit_b, on_vit_mismatch='warn')
    with pytest.raises(ValueError, match="on_vit_mismatch must be 'error' or 'warn'"):
        stage2(cfg, vit_a, on_vit_mismatch='ignore')


def test_stage1_resume_with_other_2d_file_is_refused(setup):
    cfg, _, _, vit_b, state = setup
    other = MODELS.build(dict(cfg.model.teacher.model, vit_blocks=dict(
        cfg.model.teacher.model.vit_blocks, checkpoint=vit_b)))
    with pytest.raises(ValueError, match='trained with the 2D weights'):
        other.load_state_dict(state)


def test_checkpoint_without_record_warns(setup):
    cfg, tmp, vit_a, _, state = setup
    old = {k: v for k, v in state.items() if k != 'weights_2d_record'}
    torch.save({'state_dict': old}, tmp / 'old_stage1.pth')
    with pytest.warns(UserWarning, match='records no 2D weights fingerprint'):
        stage2(cfg, vit_a, checkpoint=str(tmp / 'old_stage1.pth'))


def test_long_path_record_keeps_hash(tmp_path):
    from pt3kd_mm.models.teachers.frozen_vit_blocks import (VIT_RECORD_BYTES,
                                                            vit_record_tensor)
    fp = dict(file='/x' * 400 + '/vit.pth', file_sha256='a' * 64, source='timm',
              arch=dict(embed_dims=32), embed_dims=32, num_blocks=2)
    tensor = vit_record_tensor(fp)
    assert tensor.shape == (VIT_RECORD_BYTES, ) and tensor.dtype == torch.uint8
    record = read_vit_record(tensor)
    assert record['file_sha256'] == 'a' * 64 and record['file'].endswith('/vit.pth')
    assert read_vit_record(torch.zeros(VIT_RECORD_BYTES, dtype=torch.uint8)) is None
