import pytest
import torch

from mmdet3d.registry import MODELS

TINY = dict(type='PointPatchTransformer', embed_dims=32, depth=3, num_heads=2, num_groups=16,
            group_size=8)


def build(**kw):
    model = MODELS.build(dict(TINY, **kw))
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('with_cls', [False, True])
def test_shapes(with_cls):
    model = build(with_cls_token=with_cls, out_indices=(0, -1))
    out = model(torch.rand(2, 200, 3))
    assert out['tokens'].shape == (2, 16, 32)
    assert out['centers'].shape == (2, 16, 3)
    assert out['group_indices'].shape == (2, 16, 8)
    assert out['center_indices'].shape == (2, 16)
    assert [t.shape for t in out['multi_level_tokens']] == [(2, 16, 32)] * 2
    torch.testing.assert_close(out['multi_level_tokens'][-1], out['tokens'])
    assert ('cls_token' in out) == with_cls
    if with_cls:
        assert out['cls_token'].shape == (2, 32)
        assert model.cls_token.shape == (1, 1, 32)


def test_extra_channels_are_ignored():
    model = build()
    pts = torch.rand(1, 100, 6)
    a = model(pts)['tokens']
    pts[..., 3:] = 7.0
    torch.testing.assert_close(model(pts)['tokens'], a)


def test_position_added_before_every_block():
    model = build(depth=2)
    seen = []
    for blk in model.transformer.blocks:
        blk.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    pts = torch.rand(1, 100, 3)
    neigh, centers, _, _ = model.group(pts)
    tokens = model.patch_embed(neigh)
    pos = model.pos_embed(centers)
    model.encode(tokens, centers)
    torch.testing.assert_close(seen[0], tokens + pos)
    after_first = model.transformer.blocks[0](tokens + pos)
    torch.testing.assert_close(seen[1], after_first + pos)


def test_cls_token_goes_first_with_its_own_position():
    """With the CLS token, the first block's input is [cls_token + cls_pos, visible tokens +
    pos(their centres)], by hand from the parameters. Guards against the CLS token appended
    last, given a patch's position (or none), or the positions shifted by one."""
    model = build(with_cls_token=True, depth=2)
    assert not torch.allclose(model.cls_token, model.cls_pos)
    seen = []
    model.transformer.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    neigh, centers, _, _ = model.group(torch.rand(2, 100, 3))
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :10], mask[1, 6:] = True, True  # other visible groups in each cloud
    with torch.no_grad():
        out = model.forward_visible(neigh, centers, mask)
        expected = []
        for b in range(2):
            vis = (~mask[b]).nonzero().flatten()
            patches = model.patch_embed(neigh[b, vis]) + model.pos_embed(centers[b, vis])
            expected.append(torch.cat([model.cls_token[0] + model.cls_pos[0], patches]))
    assert out.shape == (2, 7, 32)
    torch.testing.assert_close(seen[0], torch.stack(expected))


def test_forward_visible_embeds_all_groups_by_default():
    """The reference runs the mini-PointNet over every group (its training-mode BatchNorm sees
    all of them) and drops the masked tokens; embed_all_groups=False embeds visible groups only.
    Eval mode gives the same tokens either way; training mode differs by the BN statistics."""
    model = build(with_cls_token=True).train()
    neigh, centers, _, _ = model.group(torch.rand(2, 100, 3))
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :10] = True
    calls = []
    model.patch_embed.register_forward_hook(lambda m, a, o: calls.append(a[0].shape))
    out = model.forward_visible(neigh, centers, mask)
    assert calls == [(2, 16, 8, 3)]
    assert out.shape == (2, 7, 32)
    fast = build(with_cls_token=True, embed_all_groups=False).train()
    fast.load_state_dict(model.state_dict())
    fast.patch_embed.register_forward_hook(lambda m, a, o: calls.append(a[0].shape))
    fast_out = fast.forward_visible(neigh, centers, mask)
    assert calls[-1] == (2, 6, 8, 3)
    assert (fast_out - out).abs().max() > 1e-4  # training mode: other BN statistics
    model.eval(), fast.eval()
    fast.load_state_dict(model.state_dict())  # the same running statistics
    torch.testing.assert_close(fast.forward_visible(neigh, centers, mask),
                               model.forward_visible(neigh, centers, mask))


def test_drop_path_rises_linearly():
    model = MODELS.build(dict(TINY, depth=3, drop_path_rate=0.1))
    rates = [blk.ffn.dropout_layer.drop_prob if hasattr(blk.ffn.dropout_layer, 'drop_prob')
             else 0.0 for blk in model.transformer.blocks]
    assert rates == pytest.approx([0.0, 0.05, 0.1])


def test_too_few_points_error():
    with pytest.raises(ValueError, match='a cloud of 10 points cannot form 16 groups'):
        build()(torch.rand(1, 10, 3))


def test_nan_error_names_cloud():
    pts = torch.rand(3, 100, 3)
    pts[1, 5, 2] = float('nan')
    with pytest.raises(ValueError, match=r'NaN or infinite coordinates in clouds \[1\]'):
        build()(pts)


def test_pretrained_init_cfg_roundtrip(tmp_path):
    src = build(with_cls_token=True)
    ckpt = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()},
                'meta': {}}, ckpt)
    dst = MODELS.build(dict(TINY, with_cls_token=True,
                            init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                          prefix='backbone.')))
    dst.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
