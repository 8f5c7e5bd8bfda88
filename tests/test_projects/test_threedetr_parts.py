"""3DETR's parts against hand computations: box coder, matcher, Fourier positions, targets,
losses, token / position alignment in the decoder and the post-processing."""
import itertools
import math

import pytest
import torch
from mmengine.structures import InstanceData

from mmdet3d.structures import DepthInstance3DBoxes
from projects.ThreeDETR.threedetr import (HungarianMatcher3D, ThreeDETRBBoxCoder,
                                          ThreeDETRHead)
from projects.ThreeDETR.threedetr.box_coder import aligned_extents
from projects.ThreeDETR.threedetr.layers import FourierPositionEmbedding
from projects.ThreeDETR.threedetr.threedetr_head import count_points_in_boxes


def logit(p):
    return torch.log(p / (1 - p))


# ---------------------------------------------------------------- box coder
@pytest.mark.parametrize('bins', [1, 12])
def test_angle_class_round_trip(bins):
    coder = ThreeDETRBBoxCoder(bins)
    angles = torch.linspace(-math.pi + 1e-3, math.pi, 97, dtype=torch.float64)
    cls, res = coder.angle_to_class(angles)
    assert cls.min() >= 0 and cls.max() < bins
    width = 2 * math.pi / bins
    assert (res >= -width / 2 - 1e-9).all() and (res < width / 2 + 1e-9).all()
    back = coder.class_to_angle(cls, res)
    diff = torch.remainder(back - angles + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-9
    if bins == 12:  # 0 rad is the centre of bin 0; 31 degrees lies in bin 1 (15..45 degrees)
        c, r = coder.angle_to_class(torch.tensor([0.0, math.radians(31)], dtype=torch.float64))
        assert c.tolist() == [0, 1]
        assert r[0].abs() < 1e-12 and abs(r[1] - math.radians(1)) < 1e-12


def test_encode_decode_round_trip():
    coder = ThreeDETRBBoxCoder(12)
    xyz_min = torch.tensor([-1.0, -2.0, 0.0], dtype=torch.float64)
    xyz_max = torch.tensor([4.0, 3.0, 2.5], dtype=torch.float64)
    centers = torch.tensor([[0.5, 0.2, 0.4], [2.0, -1.0, 1.2]], dtype=torch.float64)
    sizes = torch.tensor([[0.6, 0.8, 0.9], [1.5, 0.4, 2.0]], dtype=torch.float64)
    yaws = torch.tensor([0.3, -2.5], dtype=torch.float64)
    t = coder.encode(centers, sizes, yaws, xyz_min, xyz_max)
    extent = xyz_max - xyz_min
    assert torch.allclose(t['center_normalized'], (centers - xyz_min) / extent)
    assert torch.allclose(t['size_normalized'], sizes / extent)
    # head outputs that decode exactly to these boxes from queries within 0.5 of the centres
    query = centers + torch.tensor([[0.2, -0.1, 0.3], [-0.4, 0.25, 0.0]], dtype=torch.float64)
    center_raw = logit(centers - query + 0.5)
    size_raw = logit(t['size_normalized'])
    logits = torch.full((2, 12), -5.0, dtype=torch.float64)
    logits[torch.arange(2), t['angle_class']] = 5.0
    residual = torch.zeros(2, 12, dtype=torch.float64)
    residual[torch.arange(2), t['angle_class']] = t['angle_residual_normalized']
    out = coder.decode(center_raw[None], size_raw[None], logits[None], residual[None],
                       query[None], xyz_min[None], xyz_max[None])
    assert torch.allclose(out['center'][0], centers)
    assert torch.allclose(out['center_normalized'][0], t['center_normalized'])
    assert torch.allclose(out['size'][0], sizes)
    assert torch.allclose(out['angle'][0], yaws)


def test_single_bin_heading_is_zero():
    coder = ThreeDETRBBoxCoder(1)
    out = coder.decode(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.randn(1, 2, 1),
                       torch.randn(1, 2, 1), torch.rand(1, 2, 3), torch.zeros(1, 3),
                       torch.ones(1, 3))
    assert (out['angle'] == 0).all()


def test_aligned_extents_of_a_rotated_box():
    box = aligned_extents(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[2.0, 1.0, 4.0]]),
                          torch.tensor([math.pi / 2]))
    assert torch.allclose(box, torch.tensor([[0.5, 1.0, 1.0, 1.5, 3.0, 5.0]]), atol=1e-6)


# ---------------------------------------------------------------- matcher
@pytest.mark.parametrize('seed', range(6))
def test_matcher_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    num_q, num_gt, num_cls = 5, 3, 4
    prob = torch.rand(num_q, num_cls, generator=g).softmax(-1)
    obj = torch.rand(num_q, generator=g)
    labels = torch.randint(0, num_cls, (num_gt, ), generator=g)
    giou = torch.rand(num_q, num_gt, generator=g) * 2 - 1
    dist = torch.rand(num_q, num_gt, generator=g)
    matcher = HungarianMatcher3D(cls_cost=1.0, objectness_cost=0.5, giou_cost=2.0,
                                 center_cost=0.3)
    q, gt = matcher(prob, obj, labels, giou, dist)
    assert sorted(gt.tolist()) == list(range(num_gt)) and len(set(q.tolist())) == num_gt

    def cost(qi, gi):
        return (-prob[qi, labels[gi]] - 0.5 * obj[qi] - 2.0 * giou[qi, gi]
                + 0.3 * dist[qi, gi]).item()

    got = sum(cost(a, b) for a, b in zip(q.tolist(), gt.tolist()))
    best = min(sum(cost(perm[j], j) for j in range(num_gt))
               for perm in itertools.permutations(range(num_q), num_gt))
    assert got == pytest.approx(best, abs=1e-6)


def test_matcher_without_boxes_and_with_nan():
    matcher = HungarianMatcher3D()
    q, g = matcher(torch.rand(4, 3), torch.rand(4), torch.zeros(0, dtype=torch.long),
                   torch.zeros(4, 0), torch.zeros(4, 0))
    assert q.numel() == 0 and g.numel() == 0
    giou = torch.rand(4, 2)
    giou[1, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        matcher(torch.rand(4, 3), torch.rand(4), torch.tensor([0, 1]), giou, torch.rand(4, 2))


# ---------------------------------------------------------------- positions
def test_fourier_embedding_definition():
    emb = FourierPositionEmbedding(16)
    xyz = torch.rand(2, 5, 3) * 4 - 1
    lo, hi = xyz.amin(1), xyz.amax(1)
    out = emb(xyz, lo, hi)
    assert out.shape == (2, 5, 16) and not out.requires_grad
    proj = 2 * math.pi * ((xyz - lo[:, None]) / (hi - lo)[:, None]) @ emb.gauss_B
    assert torch.allclose(out, torch.cat([proj.sin(), proj.cos()], -1), atol=1e-5)
    # positions relative to the scene: scaling and shifting the scene changes nothing
    assert torch.allclose(emb(xyz * 3 + 7, lo * 3 + 7, hi * 3 + 7), out, atol=1e-4)
    assert 'gauss_B' in emb.state_dict()
    with pytest.raises(ValueError, match='even'):
        FourierPositionEmbedding(15)


# ---------------------------------------------------------------- head
def tiny_head(**kwargs):
    cfg = dict(num_classes=3, in_channels=8, embed_dims=16, num_queries=6,
               num_decoder_layers=2, ffn_dims=16, dropout=0.0, mlp_dropout=0.0,
               point_ops_backend='torch')
    cfg.update(kwargs)
    head = ThreeDETRHead(**cfg)
    head.init_weights()
    return head.eval()


def gt(boxes, labels, with_yaw=False):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 7 if with_yaw else 6)
    return InstanceData(bboxes_3d=DepthInstance3DBoxes(boxes, box_dim=boxes.shape[-1],
                                                       with_yaw=with_yaw),
                        labels_3d=torch.tensor(labels, dtype=torch.long))


def test_targets_are_the_normalised_gravity_centres_and_sizes():
    head = tiny_head()
    # depth boxes store the bottom centre: z 0.2 with height 1.0 -> gravity centre z 0.7
    boxes = gt([[1.0, 2.0, 0.2, 0.5, 0.6, 1.0]], [2])
    lo, hi = torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[4.0, 5.0, 2.0]])
    t = head.get_targets([boxes], lo, hi)[0]
    assert torch.allclose(t['center_normalized'], torch.tensor([[0.25, 0.4, 0.35]]))
    assert torch.allclose(t['size_normalized'], torch.tensor([[0.125, 0.12, 0.5]]))
    assert torch.allclose(t['aabb'], torch.tensor([[0.75, 1.7, 0.2, 1.25, 2.3, 1.2]]))
    assert t['labels'].tolist() == [2] and t['angle_class'].tolist() == [0]


def test_bad_labels_and_rotated_boxes_are_errors():
    head = tiny_head()
    lo, hi = torch.zeros(1, 3), torch.ones(1, 3) * 4
    with pytest.raises(ValueError, match=r'labels of scene 0 must be in \[0, 3\), got \[-1\]'):
        head.get_targets([gt([[1, 1, 0, 1, 1, 1]], [-1])], lo, hi)
    with pytest.raises(NotImplementedError, match='axis-aligned'):
        head.get_targets([gt([[1, 1, 0, 1, 1, 1, 0.4]], [0], with_yaw=True)], lo, hi)


def test_decoder_positions_line_up_with_their_tokens():
    """The first decoder layer sees, for every encoder token, the Fourier embedding of that
    token's own centre, and for every query the embedding of the FPS-sampled centre."""
    torch.manual_seed(0)
    head = tiny_head()
    tokens, centers = torch.randn(2, 20, 8), torch.rand(2, 20, 3) * 5
    seen = {}
    layer = head.decoder.layers[0]
    handle = layer.register_forward_hook(
        lambda m, args, out: seen.update(zip(('query', 'memory', 'query_pos', 'memory_pos'),
                                             args)))
    lo, hi = centers.amin(1), centers.amax(1)
    out = head(tokens, centers, lo, hi)
    handle.remove()
    assert torch.equal(seen['memory_pos'], head.pos_embed(centers, lo, hi))
    assert torch.allclose(seen['memory'],
                          head.input_proj(tokens.transpose(1, 2)).transpose(1, 2))
    from pt3kd_mm.ops import farthest_point_sample, gather_points
    query_xyz = gather_points(centers, farthest_point_sample(centers, 6, 'torch'))
    assert torch.equal(out['query_xyz'], query_xyz)
    expected = head.query_proj(head.pos_embed(query_xyz, lo, hi).transpose(1, 2))
    assert torch.allclose(seen['query_pos'], expected.transpose(1, 2))
    assert (seen['query'] == 0).all()  # the decoder starts from zero targets
    assert len(out['layers']) == 2
    last = head(tokens, centers, lo, hi, all_layers=False)['layers']
    assert len(last) == 1 and torch.allclose(last[0]['center'], out['layers'][-1]['center'])


def test_loss_against_its_definition():
    """One layer's losses with a forced assignment, recomputed by hand."""
    torch.manual_seed(0)
    head = tiny_head()
    q = 6
    out = dict(cls_logits=torch.randn(1, q, 4), angle_logits=torch.randn(1, q, 12),
               angle_residual_normalized=torch.randn(1, q, 12) * 0.1,
               center=torch.rand(1, q, 3) * 4, size=torch.rand(1, q, 3) + 0.5,
               angle=torch.zeros(1, q))
    lo, hi = torch.zeros(1, 3), torch.tensor([[4.0, 4.0, 2.0]])
    out['center_normalized'] = out['center'] / (hi - lo)
    out['size_normalized'] = out['size'] / (hi - lo)
    boxes = gt([[1.0, 1.0, 0.0, 1.0, 1.0, 1.0], [3.0, 2.0, 0.5, 0.8, 1.2, 0.6]], [1, 2])
    targets = head.get_targets([boxes], lo, hi)
    head.matcher = lambda *a: (torch.tensor([4, 1]), torch.tensor([0, 1]))  # forced
    losses = head.loss_by_layer(out, targets, num_boxes=2.0)
    t = targets[0]
    cls_target = torch.tensor([[3, 2, 3, 3, 1, 3]])
    weight = torch.tensor([1.0, 1.0, 1.0, 0.25])
    ce = torch.nn.functional.cross_entropy(out['cls_logits'][0], cls_target[0],
                                           reduction='none')
    assert losses['loss_cls'].item() == pytest.approx(
        ((ce * weight[cls_target[0]]).sum() / weight[cls_target[0]].sum()).item(), rel=1e-5)
    qi = [4, 1]
    center = (out['center_normalized'][0, qi] - t['center_normalized']).abs().sum()
    assert losses['loss_center'].item() == pytest.approx(5.0 * center.item() / 2, rel=1e-5)
    size = (out['size_normalized'][0, qi] - t['size_normalized']).abs().sum()
    assert losses['loss_size'].item() == pytest.approx(size.item() / 2, rel=1e-5)
    from mmdet3d.structures.ops import axis_aligned_bbox_overlaps_3d
    pred = aligned_extents(out['center'][0, qi], out['size'][0, qi], out['angle'][0, qi])
    giou = axis_aligned_bbox_overlaps_3d(pred, t['aabb'], mode='giou', is_aligned=True)
    assert losses['loss_giou'].item() == pytest.approx((1 - giou).sum().item() / 2, rel=1e-5)
    ang = torch.nn.functional.cross_entropy(out['angle_logits'][0, qi], torch.zeros(2).long(),
                                            reduction='sum')
    assert losses['loss_angle_cls'].item() == pytest.approx(0.1 * ang.item() / 2, rel=1e-5)
    res = out['angle_residual_normalized'][0, qi, 0]
    huber = torch.where(res.abs() < 1, 0.5 * res**2, res.abs() - 0.5).sum()
    assert losses['loss_angle_reg'].item() == pytest.approx(0.5 * huber.item() / 2, rel=1e-5)


def test_a_scene_without_boxes_trains_no_object():
    torch.manual_seed(0)
    head = tiny_head()
    head.train()
    tokens, centers = torch.randn(2, 20, 8, requires_grad=True), torch.rand(2, 20, 3) * 3
    points = torch.rand(2, 100, 3) * 3
    losses = head.loss(tokens, centers, points, [gt([], []), gt([], [])])
    for key in ('loss_giou', 'loss_center', 'loss_size', 'loss_angle_cls', 'loss_angle_reg'):
        assert losses[key].item() == 0.0
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert torch.isfinite(tokens.grad).all()
    # every head stays in the graph (DDP without find_unused_parameters needs it)
    assert all(p.grad is not None for p in head.heads.parameters())
    assert {'d0.loss_cls', 'loss_cls', 'cardinality_error'} <= set(losses)


def test_points_in_boxes():
    xyz = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [0.0, 0.9, 0.0], [2.0, 2.0, 2.0]])
    centers = torch.zeros(2, 3)
    sizes = torch.tensor([[2.0, 1.0, 1.0], [2.0, 1.0, 1.0]])
    counts = count_points_in_boxes(xyz, centers, sizes, torch.tensor([0.0, math.pi / 2]))
    assert counts.tolist() == [2, 2]  # the second box, turned 90 degrees, holds (0, 0.9)


def test_post_processing_follows_the_reference():
    """Empty boxes dropped, same-class NMS on objectness, per-class proposals scored
    p(class) x objectness."""
    head = tiny_head(num_queries=4, bbox_coder=dict(type='ThreeDETRBBoxCoder',
                                                    num_angle_bins=1))
    points = torch.cat([torch.rand(1, 50, 3) * 0.5, torch.rand(1, 50, 3) * 0.5 + 2], dim=1)
    # queries: 0 and 1 overlap (same class, 1 more object-like), 2 elsewhere, 3 empty space
    center = torch.tensor([[[0.25, 0.25, 0.25], [0.27, 0.25, 0.25], [2.25, 2.25, 2.25],
                            [5.0, 5.0, 5.0]]])
    size = torch.full((1, 4, 3), 0.5)
    cls_logits = torch.log(torch.tensor([[[0.6, 0.1, 0.1, 0.2], [0.7, 0.1, 0.1, 0.1],
                                          [0.1, 0.8, 0.05, 0.05], [0.1, 0.1, 0.7, 0.1]]]))
    fake = dict(layers=[dict(center=center, size=size, angle=torch.zeros(1, 4),
                             cls_logits=cls_logits)])
    head.forward = lambda *a, **k: fake
    res = head.predict(torch.zeros(1, 4, 8), torch.zeros(1, 4, 3), points)[0]
    prob = cls_logits.softmax(-1)[0]
    obj = 1 - prob[:, -1]
    kept = [1, 2]  # 0 suppressed by 1 (IoU > 0.25, same class), 3 holds no point
    assert len(res.scores_3d) == len(kept) * 3
    expected = torch.stack([prob[k, c] * obj[k] for k in kept for c in range(3)])
    assert torch.allclose(res.scores_3d, expected)
    assert res.labels_3d.tolist() == [0, 1, 2] * 2
    assert torch.allclose(res.bboxes_3d.gravity_center, center[0, [1, 1, 1, 2, 2, 2]])
    assert not res.bboxes_3d.with_yaw
