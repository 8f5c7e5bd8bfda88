"""PointClassifier: the global feature, loss, prediction, the frozen-encoder protocols and
test-time voting against hand computations."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmdet3d.registry import MODELS
from pt3kd_mm.models.classifiers import augment_clouds, vote_logits

BACKBONE = dict(type='PointPatchTransformer', embed_dims=32, depth=1, num_heads=2, num_groups=8,
                group_size=8, with_cls_token=True)
RECON = dict(type='ReConPointTransformer', embed_dims=32, depth=1, num_heads=2, num_groups=8,
             group_size=8, detach_local=False)
MLP = dict(type='mmpretrain.StackedLinearClsHead', num_classes=4, mid_channels=[16, 16],
           dropout_rate=0.5, norm_cfg=dict(type='BN1d'),
           loss=dict(type='mmpretrain.CrossEntropyLoss'))
LINEAR = dict(type='mmpretrain.LinearClsHead', num_classes=4, init_cfg=None,
              loss=dict(type='mmpretrain.CrossEntropyLoss'))


def build(backbone=BACKBONE, head=MLP, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='PointClassifier', backbone=backbone, head=head, **kwargs))
    model.init_weights()
    return model


def samples(labels):
    return [DataSample().set_gt_label(int(label)) for label in labels]


@pytest.mark.parametrize('backbone,prefix', [(BACKBONE, 1), (RECON, 3)])
def test_feature_is_prefix_tokens_then_max_pool(backbone, prefix):
    model = build(backbone).eval()
    assert model.head.layers[0].fc.in_features == (prefix + 1) * 32
    points = torch.rand(3, 64, 3)
    with torch.no_grad():
        out = model.backbone(points)
        feat, = model.extract_feat(points)
    assert feat.shape == (3, (prefix + 1) * 32)
    for i in range(prefix):  # CLS (ReCon: cls, img, text) in order
        torch.testing.assert_close(feat[:, 32 * i:32 * (i + 1)], out['prefix_tokens'][:, i])
    tokens = out['tokens']
    for b in range(3):  # the max over the patch tokens, channel by channel
        for c in (0, 17, 31):
            assert feat[b, 32 * prefix + c] == max(tokens[b, g, c] for g in range(8))


def test_loss_is_cross_entropy_of_the_logits_and_predict_is_softmax():
    model = build(head=LINEAR).eval()
    points, labels = torch.rand(4, 64, 3), torch.tensor([0, 3, 1, 1])
    with torch.no_grad():
        logits = model(dict(points=points), mode='tensor')
        loss = model(dict(points=points), samples(labels), mode='loss')['loss']
        preds = model(dict(points=points), samples(labels), mode='predict')
    # by the definition: mean over the batch of -log softmax at the label
    expected = -torch.stack([logits[i].log_softmax(0)[labels[i]] for i in range(4)]).mean()
    torch.testing.assert_close(loss, expected)
    for i, pred in enumerate(preds):
        torch.testing.assert_close(pred.pred_score, F.softmax(logits[i], 0))
        assert int(pred.pred_label) == int(logits[i].argmax())
        assert int(pred.gt_label) == int(labels[i])


def test_training_step_lowers_the_loss_on_a_fixed_batch():
    model = build(dict(BACKBONE, drop_path_rate=0.0), head=LINEAR)
    points, labels = torch.rand(8, 64, 3), torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(dict(points=points), samples(labels), mode='loss')['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_frozen_backbone_keeps_only_the_cls_token_trainable():
    model = build(freeze_backbone=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {'backbone.cls_token', 'backbone.cls_pos'} <= trainable
    assert not [n for n in trainable if n.startswith('backbone.')
                and n not in ('backbone.cls_token', 'backbone.cls_pos')]
    assert all(p.requires_grad for p in model.head.parameters())


def test_frozen_recon_trains_only_the_cls_row_of_the_queries():
    model = build(RECON, freeze_backbone=True)
    loss = model(dict(points=torch.rand(4, 64, 3)), samples([0, 1, 2, 3]), mode='loss')['loss']
    loss.backward()
    for name in ('query_tokens', 'query_pos'):
        grad = getattr(model.backbone, name).grad
        assert grad[:, 0].abs().sum() > 0  # cls row
        assert torch.equal(grad[:, 1:], torch.zeros_like(grad[:, 1:]))  # img / text rows
    assert model.backbone.transformer.blocks[0].attn.qkv.weight.grad is None


def test_freezing_needs_a_cls_token():
    with pytest.raises(ValueError, match='no CLS token'):
        build(dict(BACKBONE, with_cls_token=False), freeze_backbone=True)


def test_vote_settings_are_checked():
    with pytest.raises(ValueError, match='num_votes and num_points required'):
        build(vote=dict(num_votes=10))
    with pytest.raises(ValueError, match='vote takes'):
        build(vote=dict(num_votes=10, num_points=32, jitter=0.1))


# --------------------------------------------------------------------------- voting
def test_augment_by_hand():
    points = torch.tensor([[[1., 2., 3.], [-1., 0., 2.]]])
    # degenerate ranges: scale exactly 2, no shift -> 2 x
    torch.testing.assert_close(augment_clouds(points, scale_range=(2., 2.)), 2 * points)
    # rotation about y by the angle the generator draws: x' = x c - z s, z' = x s + z c
    gen = torch.Generator().manual_seed(3)
    angle = 2 * math.pi * torch.rand(1, generator=torch.Generator().manual_seed(3),
                                     dtype=torch.float64).item()
    out = augment_clouds(points, rotate_up_axis=1, generator=gen)
    c, s = math.cos(angle), math.sin(angle)
    expected = torch.tensor([[[1 * c - 3 * s, 2., 1 * s + 3 * c],
                              [-1 * c - 2 * s, 0., -1 * s + 2 * c]]])
    torch.testing.assert_close(out, expected)
    # the reference's matrix: points @ [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    ref_rot = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float32)
    torch.testing.assert_close(out, points @ ref_rot)
    # scale then shift, both within their ranges, one draw per cloud
    gen = torch.Generator().manual_seed(0)
    many = torch.ones(50, 4, 3)
    out = augment_clouds(many, (2. / 3., 1.5), 0.2, generator=gen)
    assert torch.allclose(out, out[:, :1].expand_as(out))  # same transform for a cloud's points
    assert out.min() >= 2. / 3. - 0.2 and out.max() <= 1.5 + 0.2
    assert out[:, 0].std(0).min() > 0.1  # clouds differ


def test_vote_averages_logits_of_every_view():
    calls = []

    def counting(view):  # view k scores k (1..10) for every cloud and class
        calls.append(view)
        return torch.full((view.shape[0], 2), float(len(calls)))

    mean = vote_logits(counting, torch.rand(3, 20, 3), num_votes=10, num_points=12)
    torch.testing.assert_close(mean, torch.full((3, 2), 5.5))  # (1 + ... + 10) / 10
    assert len(calls) == 10 and all(v.shape == (3, 12, 3) for v in calls)


def test_vote_views_are_random_subsets_shared_by_the_batch():
    # clouds whose x coordinate is the point index (cloud b offset by 100 b)
    idx = torch.arange(20, dtype=torch.float32)
    points = torch.stack([torch.stack([idx + 100 * b, idx * 0, idx * 0], -1) for b in range(2)])
    views = []
    vote_logits(lambda v: views.append(v) or torch.zeros(2, 1), points, num_votes=4,
                num_points=12, generator=torch.Generator().manual_seed(0))
    subsets = []
    for view in views:
        first, second = view[0, :, 0], view[1, :, 0] - 100
        assert torch.equal(first, second)  # one draw for the batch, as the reference
        assert len(set(first.tolist())) == 12  # without replacement
        subsets.append(tuple(sorted(first.tolist())))
    assert len(set(subsets)) > 1  # fresh draw per view


def test_vote_by_hand_with_scaling():
    """logits = mean of the view's x: with all points drawn (a permutation) and a known scale
    per view, the vote is the mean of the scales times the cloud's mean x."""
    points = torch.rand(2, 16, 3)
    gen = torch.Generator().manual_seed(7)
    out = vote_logits(lambda v: v[..., :1].mean(1), points, num_votes=3, num_points=16,
                      scale_range=(0.5, 2.0), generator=gen)
    gen = torch.Generator().manual_seed(7)
    scales = []
    for _ in range(3):  # the draw order: permutation, then the (B, 1, 3) scales
        torch.randperm(16, generator=gen)
        s = 0.5 + 1.5 * torch.rand((2, 1, 3), generator=gen, dtype=torch.float64)
        scales.append(s[:, 0, 0].float())
    expected = torch.stack(scales).mean(0)[:, None] * points[..., :1].mean(1)
    torch.testing.assert_close(out, expected)


def test_predict_with_votes_scores_the_mean_logits():
    model = build(head=LINEAR,
                  vote=dict(num_votes=5, num_points=48, scale_range=(2. / 3., 1.5))).eval()
    points = torch.rand(2, 60, 3)
    torch.manual_seed(11)
    preds = model(dict(points=points), samples([0, 1]), mode='predict')
    torch.manual_seed(11)
    with torch.no_grad():
        mean = vote_logits(model.logits, points, 5, 48, (2. / 3., 1.5))
        single = model.logits(points[:, :48])
    for i in range(2):
        torch.testing.assert_close(preds[i].pred_score, F.softmax(mean[i], 0))
    assert not torch.allclose(mean, single)
    with pytest.raises(ValueError, match='feed at least 48 points'):
        model(dict(points=torch.rand(2, 40, 3)), samples([0, 1]), mode='predict')
