"""The part segmentor: shapes, category restriction, loss, ReCon's query feature, errors; the
reference's two optimiser steps per batch."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample, PointData
from pt3kd_mm.utils.shapenet_part import SHAPENET_PART_CATEGORY_PARTS

BACKBONE = dict(type='PointPatchTransformer', embed_dims=32, depth=3, num_heads=2,
                num_groups=8, group_size=8, drop_path_rate=0.0, out_indices=(0, 1, 2))
TINY = dict(
    type='PointPartSegmentor',
    backbone=BACKBONE,
    decode_head=dict(type='PointPartSegHead', label_channels=8, fp_channels=(32, 24),
                     channels=(32, 16)))


def batch(categories, num_points=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for c in categories:
        s = Det3DDataSample(metainfo=dict(category=c))
        parts = torch.tensor(SHAPENET_PART_CATEGORY_PARTS[c])
        s.gt_pts_seg = PointData(
            pts_semantic_mask=parts[torch.randint(len(parts), (num_points, ), generator=g)])
        samples.append(s)
    return dict(points=torch.rand(len(categories), num_points, 3, generator=g)), samples


def build(cfg=TINY, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(copy.deepcopy(cfg), **kwargs))
    model.init_weights()
    return model


def test_shapes_and_derived_widths():
    model = build().eval()
    head = model.decode_head
    assert head.in_channels == 96 and head.num_categories == 16 and head.num_parts == 50
    assert head.propagation.mlp_convs[0].in_channels == 3 + 96
    # fp out 24 + max 96 + mean 96 + label 8
    assert head.conv1.in_channels == 24 + 2 * 96 + 8
    inputs, samples = batch([0, 4, 15])
    logits = model(inputs, samples, mode='tensor')
    assert logits.shape == (3, 50, 64)


def test_prediction_is_restricted_to_the_category():
    model = build().eval()
    inputs, samples = batch([0, 4, 11, 15], seed=1)
    with torch.no_grad():
        logits = model(inputs, samples, mode='tensor')
        out = model(inputs, copy.deepcopy(samples), mode='predict')
    for i, (c, sample) in enumerate(zip([0, 4, 11, 15], out)):
        parts = list(SHAPENET_PART_CATEGORY_PARTS[c])
        pred = sample.pred_pts_seg.pts_semantic_mask
        # the reference: argmax over the category's logits + its first part label
        assert torch.equal(pred, logits[i, parts].argmax(0) + parts[0])
        assert sample.pts_seg_logits.pts_seg_logits.shape == (50, 64)
    # the unrestricted argmax leaves the category somewhere (else the test proves nothing)
    free = logits.argmax(1)
    assert any(not set(free[i].tolist()) <= set(SHAPENET_PART_CATEGORY_PARTS[c])
               for i, c in enumerate([0, 4, 11, 15]))


def test_loss_is_cross_entropy_over_all_points():
    model = build()
    inputs, samples = batch([1, 2], seed=2)
    torch.manual_seed(5)
    losses = model(inputs, samples, mode='loss')
    torch.manual_seed(5)
    logits = model(inputs, samples, mode='tensor')  # same dropout / drop-path draws
    labels = torch.stack([s.gt_pts_seg.pts_semantic_mask for s in samples])
    ref = F.nll_loss(F.log_softmax(logits, dim=1), labels)
    torch.testing.assert_close(losses['loss_seg'], ref)
    assert 0 <= losses['acc_seg'].item() <= 1
    losses['loss_seg'].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_recon_query_feature_uses_the_unnormed_queries():
    backbone = dict(BACKBONE, type='ReConPointTransformer', num_queries=3, detach_local=False)
    model = build(backbone=backbone, query_feature=True).eval()
    assert model.decode_head.query_channels == 32
    assert model.decode_head.conv1.in_channels == 24 + 2 * 96 + 32 + 8
    inputs, samples = batch([3, 5], seed=3)
    with torch.no_grad():
        feats = model.extract_feat(inputs['points'])
        out = model.backbone(inputs['points'])
        logits = model(inputs, samples, mode='tensor')
    raw = out['query_tokens_unnormed']
    torch.testing.assert_close(feats['query_feature'], raw.max(1)[0])
    torch.testing.assert_close(model.backbone.norm(raw), out['query_tokens'])
    assert not torch.allclose(raw, out['query_tokens'])
    assert logits.shape == (2, 50, 64)
    with pytest.raises(KeyError, match='returns no query_tokens_unnormed'):
        build(query_feature=True).extract_feat(inputs['points'])


def test_errors():
    with pytest.raises(ValueError, match=r'model\.decode_head\.in_channels = 64 but'):
        build(decode_head=dict(TINY['decode_head'], in_channels=64))
    with pytest.raises(ValueError, match='every label 0..num_parts-1 in exactly one'):
        build(category_parts=[[0, 1], [1, 2]])
    model = build().eval()
    inputs, _ = batch([0])
    samples = [Det3DDataSample(metainfo=dict(pc_path='x.txt'))]
    with pytest.raises(KeyError, match=r"metainfo\['category'\]"):
        model(inputs, samples, mode='tensor')
    inputs, samples = batch([0])
    samples[0].set_metainfo(dict(category=16))
    with pytest.raises(ValueError, match=r'outside 0\.\.15'):
        model(inputs, samples, mode='tensor')


def test_custom_category_table():
    model = build(category_parts=[[0, 1], [2, 3, 4]]).eval()
    assert model.decode_head.num_categories == 2 and model.decode_head.num_parts == 5
    inputs = dict(points=torch.rand(2, 64, 3))
    samples = [Det3DDataSample(metainfo=dict(category=c)) for c in (0, 1)]
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
    assert set(out[0].pred_pts_seg.pts_semantic_mask.tolist()) <= {0, 1}
    assert set(out[1].pred_pts_seg.pts_semantic_mask.tolist()) <= {2, 3, 4}


def test_double_step_optim_wrapper_by_hand():
    # SGD lr 1: step 1 with the raw gradient g = (3, 4) (norm 5), step 2 with g clipped to
    # norm 1 -> w = w0 - g - g / 5
    w = torch.nn.Parameter(torch.zeros(2))
    model = torch.nn.Module()
    model.w = w
    wrapper = build_optim_wrapper(model, dict(
        type='DoubleStepOptimWrapper', optimizer=dict(type='SGD', lr=1.0),
        clip_grad=dict(max_norm=1.0)))
    wrapper.update_params((w * torch.tensor([3., 4.])).sum())
    torch.testing.assert_close(w.detach(), -torch.tensor([3., 4.]) * 1.2)
    assert w.grad is None or torch.all(w.grad == 0)
    with pytest.raises(ValueError, match='accumulative_counts must be 1'):
        build_optim_wrapper(model, dict(type='DoubleStepOptimWrapper',
                                        optimizer=dict(type='SGD', lr=1.0),
                                        accumulative_counts=2))
