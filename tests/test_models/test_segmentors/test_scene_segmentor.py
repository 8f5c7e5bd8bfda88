"""The scene segmentor: the head against a brute-force computation, whole-scene chunking (every
point predicted exactly once, from a pass that holds it), the linear probe (only the head
learns, the encoder bit-identical), errors."""
import copy

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample, PointData
from pt3kd_mm.models.segmentors import plan_scene_chunks
from pt3kd_mm.testing import brute_force_interpolate

BACKBONE = dict(type='PointPatchTransformer', embed_dims=16, depth=2, num_heads=2,
                num_groups=8, group_size=8, drop_path_rate=0.0, out_indices=(0, 1))
HEAD = dict(type='PointSceneSegHead', num_classes=5, ignore_index=5, skip_channels=6,
            fp_channels=(24, ), mlp_channels=(16, ), dropout_ratio=0.0)
LINEAR_HEAD = dict(type='PointSceneSegHead', num_classes=5, ignore_index=5, skip_channels=0,
                   fp_channels=(), with_global_feature=False, mlp_channels=(),
                   dropout_ratio=0.0)
TEST_CFG = dict(mode='chunk', num_points=64, block_size=1.0, sample_rate=0.5,
                use_normalized_coord=False, batch_size=3)


def build(head=HEAD, **kwargs):
    torch.manual_seed(0)
    cfg = dict(type='PointSceneSegmentor', backbone=copy.deepcopy(BACKBONE),
               decode_head=copy.deepcopy(head), test_cfg=dict(TEST_CFG))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def scene(num_points=500, seed=0):
    """A 3 m x 2 m room with a dense corner (more points in one window than a pass holds):
    (N, 6) xyz + rgb."""
    g = torch.Generator().manual_seed(seed)
    sparse = torch.rand(num_points, 3, generator=g) * torch.tensor([3.0, 2.0, 2.5])
    dense = torch.rand(200, 3, generator=g) * torch.tensor([0.3, 0.3, 1.0]) + 0.1
    xyz = torch.cat([sparse, dense])
    return torch.cat([xyz, torch.rand(len(xyz), 3, generator=g)], dim=1)


def test_head_in_channels_from_the_backbone():
    model = build()
    assert model.decode_head.in_channels == 2 * 16
    assert model.decode_head.propagation.mlp_convs[0].in_channels == 6 + 32
    # propagation (24) + max and mean of the tokens (2 x 32)
    assert model.decode_head.mlp[0].conv.in_channels == 24 + 64
    assert model.decode_head.conv_seg.in_channels == 16 and model.num_classes == 5
    with pytest.raises(ValueError, match='in_channels'):
        build(head=dict(HEAD, in_channels=48))


def test_linear_probe_head_is_a_linear_map_of_the_interpolated_tokens():
    """logits[:, c, n] = W[c] . interpolate(F)[:, n] + b[c], interpolation by brute force."""
    model = build(head=LINEAR_HEAD).eval()
    g = torch.Generator().manual_seed(3)
    points = torch.cat([torch.rand(2, 40, 3, generator=g), torch.rand(2, 40, 3, generator=g)],
                       dim=-1)
    with torch.no_grad():
        feats = model.extract_feat(points)
        logits = model.decode_head(feats)
    tokens = torch.cat(feats['multi_level_tokens'], dim=-1).transpose(1, 2)  # (B, 32, G)
    interp = brute_force_interpolate(points[..., :3], feats['centers'], tokens)
    weight = model.decode_head.conv_seg.weight[..., 0].double().detach().numpy()
    bias = model.decode_head.conv_seg.bias.double().detach().numpy()
    expected = np.einsum('ck,bkn->bcn', weight, interp) + bias[None, :, None]
    np.testing.assert_allclose(logits.double().numpy(), expected, rtol=1e-4, atol=1e-5)
    assert sum(p.numel() for p in model.decode_head.parameters()) == 5 * 32 + 5


def test_full_head_wiring_against_a_hand_computation():
    """skip (xyz + rgb) before the interpolated tokens -> propagation conv / BN / ReLU ->
    [x, max, mean] -> ConvModule -> classifier."""
    model = build().eval()
    head = model.decode_head
    g = torch.Generator().manual_seed(4)
    points = torch.rand(2, 50, 6, generator=g)
    for bn in (head.propagation.mlp_bns[0], head.mlp[0].bn):  # non-trivial statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        feats = model.extract_feat(points)
        logits = head(feats)
        tokens = torch.cat(feats['multi_level_tokens'], dim=-1).transpose(1, 2)
        interp = torch.from_numpy(brute_force_interpolate(points[..., :3], feats['centers'],
                                                          tokens)).float()
        x = torch.cat([points.transpose(1, 2), interp], dim=1)
        x = torch.relu(head.propagation.mlp_bns[0](head.propagation.mlp_convs[0](x)))
        x = torch.cat([x, tokens.max(-1, keepdim=True)[0].expand(-1, -1, 50),
                       tokens.mean(-1, keepdim=True).expand(-1, -1, 50)], dim=1)
        x = torch.relu(head.mlp[0].bn(head.mlp[0].conv(x)))
        expected = head.conv_seg(x)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('num_points,block,stride', [(64, 1.0, 0.5), (64, 1.5, 0.75),
                                                     (700, 1.0, 1.0), (16, 0.4, 0.2)])
def test_chunk_plan_predicts_every_point_exactly_once(num_points, block, stride):
    xyz = scene()[:, :3]
    chunks = plan_scene_chunks(xyz[:, :2], num_points, block, stride,
                               generator=torch.Generator().manual_seed(0))
    targets = torch.cat([c.sample_idx[c.target_rows] for c in chunks])
    assert torch.equal(torch.sort(targets).values, torch.arange(len(xyz)))
    for c in chunks:
        assert c.sample_idx.shape == (num_points, )
        rows = c.target_rows
        assert len(torch.unique(rows)) == len(rows) and len(rows) <= num_points
        # targets lie in the window's central cell, every sampled point in its window
        assert ((xyz[c.sample_idx[rows], :2] - c.center_xy).abs() <= stride / 2 + 1e-5).all()
        assert ((xyz[c.sample_idx, :2] - c.center_xy).abs() <= block / 2 + 1e-5).all()
        window = ((xyz[:, :2] - c.center_xy).abs() <= block / 2).all(dim=1).sum()
        if window >= num_points:  # a full pass repeats no point
            assert len(torch.unique(c.sample_idx)) == num_points
        else:  # a small window is sent whole (padded with repeats)
            assert len(torch.unique(c.sample_idx)) == window
    # the dense corner holds more points than a pass: its cell needs several passes
    if num_points == 64:
        centres = torch.stack([c.center_xy for c in chunks])
        assert len(centres) > len(torch.unique(centres, dim=0))


def test_chunk_plan_errors():
    with pytest.raises(ValueError, match=r'\(N, 2\)'):
        plan_scene_chunks(torch.zeros(0, 2), 8, 1.0, 0.5)
    with pytest.raises(ValueError, match='NaN'):
        plan_scene_chunks(torch.tensor([[0.0, float('nan')]]), 8, 1.0, 0.5)
    with pytest.raises(ValueError, match='stride <= block_size'):
        plan_scene_chunks(torch.rand(10, 2), 8, 0.5, 1.0)


def test_chunk_inference_reads_each_point_from_a_pass_that_holds_it(monkeypatch):
    """A stand-in network whose logit c at a point is its colour channel c % 3 plus c: the
    assembled scene logits must be each point's own values, each point written once."""
    model = build().eval()
    points = scene()
    calls = []

    def fake_encode_decode(inputs, metas):
        calls.append(inputs.shape)
        colour = inputs[..., 3:].transpose(1, 2)  # (B, 3, num_points)
        return torch.cat([colour[:, [c % 3]] + c for c in range(5)], dim=1)

    monkeypatch.setattr(model, 'encode_decode', fake_encode_decode)
    logits = model.chunk_inference(points, {})
    expected = torch.stack([points[:, 3 + c % 3] + c for c in range(5)])
    torch.testing.assert_close(logits, expected)
    assert all(s[1:] == (64, 6) and s[0] <= 3 for s in calls)
    chunks = plan_scene_chunks(points[:, :2], 64, 1.0, 0.5,
                               generator=torch.Generator().manual_seed(0))
    assert sum(s[0] for s in calls) == len(chunks)


def test_predict_labels_every_point_of_a_scene_in_each_mode():
    model = build().eval()
    points = scene(300)
    sample = Det3DDataSample()
    for mode in ('chunk', 'slide'):
        model.test_cfg.mode = mode
        with torch.no_grad():
            out = model.predict(dict(points=[points]), [sample])[0]
        pred = out.pred_pts_seg.pts_semantic_mask
        assert pred.shape == (len(points), ) and 0 <= pred.min() and pred.max() < 5
        assert out.pts_seg_logits.pts_seg_logits.shape == (5, len(points))
    # chunk plans are reproducible: the same logits twice
    model.test_cfg.mode = 'chunk'
    with torch.no_grad():
        a = model.chunk_inference(points, {})
        b = model.chunk_inference(points, {})
    assert torch.equal(a, b)


def test_linear_probe_trains_only_the_head():
    model = build(head=LINEAR_HEAD, freeze_backbone=True)
    model.train()
    assert not model.backbone.training and model.decode_head.training
    assert all(not p.requires_grad for p in model.backbone.parameters())
    frozen = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.decode_head.state_dict().items()}
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=dict(
        type='AdamW', lr=1e-2, weight_decay=0.05)))
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        points = torch.rand(2, 64, 6, generator=g)
        samples = []
        for _ in range(2):
            s = Det3DDataSample()
            s.gt_pts_seg = PointData(pts_semantic_mask=torch.randint(6, (64, ), generator=g))
            samples.append(s)
        losses = model.loss(dict(points=list(points)), samples)
        wrapper.update_params(losses['decode.loss_sem_seg'])
    after = model.backbone.state_dict()
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)  # weights and BN buffers
    assert any(not torch.equal(head_before[k], v)
               for k, v in model.decode_head.state_dict().items())


def test_fine_tuning_updates_the_encoder():
    model = build()
    model.train()
    before = copy.deepcopy(model.backbone.state_dict())
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=dict(
        type='AdamW', lr=1e-2)))
    s = Det3DDataSample()
    s.gt_pts_seg = PointData(pts_semantic_mask=torch.randint(5, (64, )))
    losses = model.loss(dict(points=[torch.rand(64, 6)]), [s])
    wrapper.update_params(losses['decode.loss_sem_seg'])
    assert not torch.equal(before['transformer.blocks.0.attn.qkv.weight'],
                           model.backbone.state_dict()['transformer.blocks.0.attn.qkv.weight'])


def test_errors():
    with pytest.raises(ValueError, match="test_cfg.mode"):
        build(test_cfg=dict(mode='sliding'))
    with pytest.raises(KeyError, match='num_points'):
        build(test_cfg=dict(mode='chunk', block_size=1.0, sample_rate=0.5,
                            use_normalized_coord=False, batch_size=2))
    model = build().eval()
    with pytest.raises(ValueError, match='skip_channels=6'):
        model.encode_decode(torch.rand(1, 64, 3), None)
    with pytest.raises(ValueError, match=r'\(B, N, 3 \+ C\)'):
        model.extract_feat(torch.rand(64, 6))
