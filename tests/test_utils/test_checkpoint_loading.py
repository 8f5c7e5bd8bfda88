"""Checked weight loading (pt3kd_mm/utils/checkpoint.py): ``init_cfg=dict(type='Pretrained')``
refuses a checkpoint of another shape or with missing keys, names the file, the prefix and the
keys; unexpected keys and the CLS token a pre-training lacks stay allowed; ``strict=False`` is
mmengine's warn-only loading."""
import pytest
import torch
from mmengine.registry import WEIGHT_INITIALIZERS

from mmdet3d.registry import MODELS
from mmdet3d.registry import WEIGHT_INITIALIZERS as DET3D_WEIGHT_INITIALIZERS
from pt3kd_mm.utils import checkpoint as checkpoint_module
from pt3kd_mm.utils.checkpoint import (CheckedPretrainedInit, CheckpointMismatchError,
                                       load_state_dict_checked)

TINY = dict(type='PointPatchTransformer', depth=2, num_heads=2, num_groups=16, group_size=8)


def save_backbone(path, extra=None, **kwargs):
    """A pre-training checkpoint: the encoder's weights under 'backbone.'."""
    torch.manual_seed(0)
    src = MODELS.build(dict(TINY, **kwargs))
    src.init_weights()
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state.update(extra or {})
    torch.save({'state_dict': state, 'meta': {}}, path)
    return src.state_dict()


def pretrained(path, **kwargs):
    return dict(type='Pretrained', checkpoint=str(path), prefix='backbone.', **kwargs)


def test_pretrained_is_the_checked_initialiser_in_every_scope():
    assert WEIGHT_INITIALIZERS.get('Pretrained') is CheckedPretrainedInit
    assert DET3D_WEIGHT_INITIALIZERS.get('Pretrained') is CheckedPretrainedInit


def test_pretrained_refuses_another_width(tmp_path):
    """The reported failure: a checkpoint of another width trained on from a partly random
    start with a warning only."""
    ckpt = tmp_path / 'enc32.pth'
    save_backbone(ckpt, embed_dims=32)
    model = MODELS.build(dict(TINY, embed_dims=64, init_cfg=pretrained(ckpt)))
    with pytest.raises(CheckpointMismatchError) as err:
        model.init_weights()
    msg = str(err.value)
    assert f"checkpoint {ckpt} (keys under 'backbone.')" in msg
    assert '28 tensor(s) of another shape' in msg and '(28 in all)' in msg
    assert 'patch_embed.second_fc2.weight (checkpoint (32, 512), model (64, 512))' in msg
    assert "init_cfg=dict(type='Pretrained', ..., strict=False)" in msg


def test_pretrained_refuses_missing_keys(tmp_path):
    ckpt = tmp_path / 'depth1.pth'
    save_backbone(ckpt, embed_dims=32, depth=1)
    model = MODELS.build(dict(TINY, embed_dims=32, init_cfg=pretrained(ckpt)))
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)11 key\(s\) of the PointPatchTransformer missing from the '
                             r'checkpoint: transformer\.blocks\.1\.ln1\.weight'):
        model.init_weights()


def test_pretrained_allows_unexpected_keys_and_a_new_cls_token(tmp_path, monkeypatch):
    """A Point-MAE encoder (no CLS token) fine-tuned with one, from a checkpoint that also holds
    a decoder: loads; the decoder keys are a warning, the CLS token keeps its init."""
    logs = []
    monkeypatch.setattr(checkpoint_module, 'print_log',
                        lambda msg, **kwargs: logs.append(msg))
    ckpt = tmp_path / 'point_mae.pth'
    wanted = save_backbone(ckpt, extra={'backbone.decoder.weight': torch.zeros(3),
                                        'neck.weight': torch.zeros(2)}, embed_dims=32)
    model = MODELS.build(dict(TINY, embed_dims=32, with_cls_token=True,
                              init_cfg=pretrained(ckpt)))
    model.init_weights()
    got = model.state_dict()
    assert set(got) - set(wanted) == {'cls_token', 'cls_pos'}
    assert all(torch.equal(got[k], v) for k, v in wanted.items())
    assert 0.01 < model.cls_token.std().item() < 0.03  # its truncated normal init
    assert any('1 key(s) not used' in m and 'decoder.weight' in m for m in logs), logs
    assert any('has no cls_token, cls_pos: kept at their initialisation' in m for m in logs)


def test_only_declared_keys_may_be_missing(tmp_path):
    """Outside a Pretrained init (tools/test.py) the CLS token is required too."""
    torch.manual_seed(0)
    model = MODELS.build(dict(TINY, embed_dims=32, with_cls_token=True))
    state = {k: v for k, v in model.state_dict().items() if k != 'cls_token'}
    with pytest.raises(CheckpointMismatchError, match=r'1 key\(s\) .* missing .*: cls_token'):
        load_state_dict_checked(model, state, 'checkpoint x.pth')
    load_state_dict_checked(model, state, 'checkpoint x.pth', optional_missing=['cls_token'])


def test_pretrained_strict_false_loads_what_fits(tmp_path):
    ckpt = tmp_path / 'depth1.pth'
    wanted = save_backbone(ckpt, embed_dims=32, depth=1)
    model = MODELS.build(dict(TINY, embed_dims=32, init_cfg=pretrained(ckpt, strict=False)))
    model.init_weights()
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in wanted.items())
    # and a checkpoint of another width: nothing that does not fit is copied, no error
    ckpt64 = tmp_path / 'enc64.pth'
    save_backbone(ckpt64, embed_dims=64)
    model = MODELS.build(dict(TINY, embed_dims=32, init_cfg=pretrained(ckpt64, strict=False)))
    model.init_weights()
    assert model.norm.weight.shape == (32, )


def test_pretrained_with_a_prefix_the_file_lacks(tmp_path):
    ckpt = tmp_path / 'enc.pth'
    save_backbone(ckpt, embed_dims=32)
    model = MODELS.build(dict(TINY, embed_dims=32, init_cfg=dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='encoder.')))
    with pytest.raises(CheckpointMismatchError,
                       match=r"has no keys under 'encoder\.' \(its keys start with backbone\.\)"):
        model.init_weights()
