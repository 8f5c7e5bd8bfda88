"""Weights come from init_cfg: the reference's truncated normal by default, a Pretrained
init_cfg loads everything (tokens included) from the file."""
import torch

from mmdet3d.registry import MODELS

TINY = dict(embed_dims=32, depth=2, num_heads=2, num_groups=16, group_size=8)


def test_default_init_is_the_references():
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='ReConPointTransformer', **TINY))
    backbone.init_weights()
    linears = [m for m in backbone.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) > 10
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears if m.bias is not None)
    for m in backbone.modules():
        if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    for p in (backbone.query_tokens, backbone.query_pos):
        assert 0.01 < p.std().item() < 0.03
    head = MODELS.build(dict(type='GlobalAlignHead', embed_dims=64, target_dims=512))
    head.init_weights()
    assert abs(head.proj.weight.mean().item() - 0.02) < 0.002  # the reference's N(0.02, 0.01)
    assert abs(head.proj.weight.std().item() - 0.01) < 0.002


def test_pretrained_init_cfg_overrides_every_weight(tmp_path):
    torch.manual_seed(0)
    src = MODELS.build(dict(type='PointPatchTransformer', with_cls_token=True, **TINY))
    src.init_weights()
    path = str(tmp_path / 'enc.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}}, path)
    dst = MODELS.build(dict(type='PointPatchTransformer', with_cls_token=True, **TINY,
                            init_cfg=dict(type='Pretrained', checkpoint=path,
                                          prefix='backbone.')))
    dst.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
