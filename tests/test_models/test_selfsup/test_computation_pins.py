"""Pins of what Point-MAE / ReCon compute, recomputed by hand from the inputs and parameters
(issue #21): the reconstruction target, the decoder's (token, position) pairs, the metric
values of ``predict`` and the zero-shot argmax. Over-fitting tests pass with any of the bugs
named in the docstrings; these do not."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from torch import nn

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from pt3kd_mm.evaluation.metrics.zero_shot_metric import zero_shot_classify
from pt3kd_mm.models.losses import PointChamferLoss
from pt3kd_mm.testing import REPO

B, N, G, K, C = 2, 128, 16, 8, 32
NUM_MASKED = int(0.6 * G)  # the tiny config's mask ratio


def tiny_point_mae(**backbone):
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_point_mae.py'))
    cfg.model.backbone.update(backbone)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()  # eval: no drop path, BatchNorm on running statistics


def record(model):
    """Record, on the next call of the model, what its grouping, masking and head receive."""
    seen = {}

    def wrap(owner, name, store):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            store(args, result)
            return result
        setattr(owner, name, wrapper)

    wrap(model.backbone, 'group', lambda a, r: seen.update(group=r))
    wrap(model, 'generate_mask', lambda a, r: seen.update(mask=r))
    wrap(model.head, 'loss', lambda a, r: seen.update(head_loss_args=a))
    wrap(model.neck, 'forward', lambda a, r: seen.update(neck_args=a))
    return seen


def hand_masked_groups(points, group_idx, center_idx, mask):
    """(B, M, K, 3): the points of each masked group minus its centre point, gathered from
    the input clouds with the grouping's indices, groups in ascending index order."""
    rows = []
    for b in range(points.shape[0]):
        groups = [points[b, group_idx[b, g], :3] - points[b, center_idx[b, g], :3]
                  for g in mask[b].nonzero().flatten().tolist()]
        rows.append(torch.stack(groups))
    return torch.stack(rows)


def hand_chamfer(pred, target):
    """CD-L2, CD-L1 of two (K, 3) sets by their definition (Point-MAE's chamfer_dist)."""
    d = torch.cdist(pred.double(), target.double()).pow(2)
    d1, d2 = d.min(1).values, d.min(0).values
    return (d1.mean() + d2.mean()).item(), (d1.sqrt().mean() + d2.sqrt().mean()).item() / 2


# ---------------------------------------------------------------------- a. the target
def test_reconstruction_target_is_the_masked_groups_recentred():
    """Guards against: absolute coordinates as the target (dropping ``- center``), visible
    instead of masked groups, groups of another cloud or in another order."""
    model = tiny_point_mae()
    seen = record(model)
    points = torch.rand(B, N, 3) * 2 - 1
    model(dict(points=points), mode='loss')
    _, centers, group_idx, center_idx = seen['group']
    mask = seen['mask']
    assert (mask.sum(1) == NUM_MASKED).all() and not torch.equal(mask[0], mask[1])
    torch.testing.assert_close(centers, torch.stack([points[b, center_idx[b]]
                                                     for b in range(B)]))
    tokens, target = seen['head_loss_args']
    expected = hand_masked_groups(points, group_idx, center_idx, mask)
    assert tokens.shape == (B, NUM_MASKED, C) and target.shape == (B, NUM_MASKED, K, 3)
    torch.testing.assert_close(target, expected)
    # the first neighbour of a group is its centre: relative coordinates start at 0
    assert target[:, :, 0].abs().max() == 0


# ---------------------------------------------------------------------- b. decoder pairs
def hand_decoder_input(neck, visible_tokens, centers, mask):
    """The first decoder block's input by hand: [visible tokens + pos(their centres), mask token
    + pos(masked centres)], visible then masked, each in ascending group order."""
    rows = []
    for b in range(visible_tokens.shape[0]):
        vis, hidden = (~mask[b]).nonzero().flatten(), mask[b].nonzero().flatten()
        tokens = torch.cat([visible_tokens[b],
                            neck.mask_token[0].expand(len(hidden), -1)])
        pos = torch.cat([neck.pos_embed(centers[b, vis]), neck.pos_embed(centers[b, hidden])])
        rows.append(tokens + pos)
    return torch.stack(rows)


@pytest.mark.parametrize('with_cls', [False, True])
def test_decoder_pairs_each_token_with_its_centre_position(with_cls):
    """Guards against: positions concatenated [masked, visible] while tokens are [visible,
    masked]; all centres in their original order; the CLS token passed to the decoder as a
    visible token."""
    model = tiny_point_mae(with_cls_token=with_cls)
    seen = record(model)
    block_in = []
    model.neck.transformer.blocks[0].register_forward_pre_hook(
        lambda m, args: block_in.append(args[0]))
    points = torch.rand(B, N, 3)
    with torch.no_grad():
        model(dict(points=points), mode='loss')
        neighborhood, centers, _, _ = seen['group']
        mask = seen['mask']
        # the encoder's patch tokens of the visible groups (CLS dropped), recomputed
        encoded = model.backbone.forward_visible(neighborhood, centers, mask)
        visible_tokens = encoded[:, model.backbone.num_prefix_tokens:]
        assert visible_tokens.shape == (B, G - NUM_MASKED, C)
        torch.testing.assert_close(seen['neck_args'][0], visible_tokens)
        expected = hand_decoder_input(model.neck, visible_tokens, centers, mask)
    assert len(block_in) == 1
    torch.testing.assert_close(block_in[0], expected)


# ---------------------------------------------------------------------- c. predict's metric
def test_predict_chamfer_values_are_the_loss_functions_per_cloud():
    """Guards against: L1 / L2 swapped in ``predict``, a sum (or a batch mean) instead of each
    cloud's mean over its masked groups, a target other than the training loss's."""
    model = tiny_point_mae()
    seen = record(model)
    masked = []
    forward = model.masked_forward
    model.masked_forward = lambda pts: masked.append(forward(pts)) or masked[-1]
    points = torch.rand(3, N, 3)
    torch.manual_seed(3)
    samples = model(dict(points=points), mode='predict')
    _, _, group_idx, center_idx = seen['group']
    target = hand_masked_groups(points, group_idx, center_idx, seen['mask'])
    with torch.no_grad():
        tokens = masked[0].masked_tokens
        pred = model.head.predict(tokens)  # (3, M, K, 3)
        for b, sample in enumerate(samples):
            # by the definition: the mean over the cloud's masked groups
            by_hand = np.array([hand_chamfer(p, t) for p, t in zip(pred[b], target[b])])
            assert sample.chamfer_l2 == pytest.approx(by_hand[:, 0].mean(), rel=1e-5)
            assert sample.chamfer_l1 == pytest.approx(by_hand[:, 1].mean(), rel=1e-5)
            # = the training loss of that cloud alone / the CD-L1 loss function
            loss_l2 = model.head.loss(tokens[b:b + 1], target[b:b + 1]).item()
            loss_l1 = PointChamferLoss(mode='l1')(pred[b], target[b]).item()
            assert sample.chamfer_l2 == pytest.approx(loss_l2, rel=1e-5)
            assert sample.chamfer_l1 == pytest.approx(loss_l1, rel=1e-5)
    values = [(s.chamfer_l2, s.chamfer_l1) for s in samples]
    assert len(set(values)) == 3  # one value per cloud, not a batch value


# ---------------------------------------------------------------------- e. zero-shot
@MODELS.register_module(name='_PinTextTeacher', force=True)
class TableTextTeacher(nn.Module):
    """A text 'teacher' that looks each prompt up in a table (prompt -> feature)."""

    def __init__(self, table):
        super().__init__()
        self.table = {k: torch.tensor(v, dtype=torch.float32) for k, v in table.items()}

    def forward(self, texts):
        return torch.stack([self.table[t] for t in texts])


def test_zero_shot_classify_asymmetric_case():
    """5 clouds, 3 classes: each cloud gets the class of highest cosine (an argmax over the
    clouds would give 3 answers, one per class)."""
    classes = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1]])
    clouds = torch.tensor([[0., 3, 1], [2, 0, 1], [0, 0.1, 5], [1, 1.2, 0], [0.9, 0.8, 0.1]])
    assert zero_shot_classify(clouds, classes).tolist() == [1, 0, 2, 1, 0]
    # scale never matters (cosine): 10 x the second class changes nothing
    assert zero_shot_classify(clouds, classes * torch.tensor([[1.], [10], [1]])).tolist() == \
        [1, 0, 2, 1, 0]


def test_recon_zero_shot_predict_and_metric_asymmetric_case():
    """ReCon.predict -> ZeroShotAccuracy on 5 clouds and 3 classes, with query tokens chosen
    so that each cloud's class is known: the metric's accuracies equal a per-cloud cosine
    argmax done by hand. Guards against an argmax over the clouds (dim 0) instead of the
    classes, a dot product instead of the cosine, a text weight other than 0.25 and
    embeddings attached to other samples."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ReCon',
        backbone=dict(type='ReConPointTransformer', embed_dims=C, depth=1, num_heads=2,
                      num_groups=G, group_size=K),
        neck=dict(type='PointMAEDecoder', depth=1, num_heads=2),
        head=dict(type='PointReconstructionHead'),
        img_head=dict(type='GlobalAlignHead', target_dims=3),
        text_head=dict(type='GlobalAlignHead', target_dims=3)))
    model.eval()
    # img head reads channels 0-2 of the img query, text head channels 3-5 of the text query
    with torch.no_grad():
        for head, first in ((model.img_head, 0), (model.text_head, 3)):
            head.proj.weight.zero_()
            head.proj.weight[:, first:first + 3] = torch.eye(3)
            head.proj.bias.zero_()
    img = torch.tensor([[0., 3, 1], [2, 0, 1], [0, 0.1, 5], [1, 1.2, 0], [0.9, 0.8, 0.1]])
    text = torch.tensor([[0., 0, 0], [0, 0, 2], [0, 0, 0], [0, 0, 0], [-1, 0, 0]])
    queries = torch.zeros(5, 3, C)
    queries[:, 1, :3], queries[:, 2, 3:6] = img, text
    points = torch.rand(5, N, 3)
    model.backbone.forward = lambda pts: dict(query_tokens=queries) if pts is points else None
    samples = [Det3DDataSample() for _ in range(5)]
    samples = model(dict(points=points), samples, mode='predict')
    emb = np.stack([s.zero_shot_embedding for s in samples])
    np.testing.assert_allclose(emb, (img + 0.25 * text).numpy())
    # classes: the unit axes, the second one 10 x longer (a dot product would favour it)
    class_emb = np.diag([1., 10., 1.])
    cos = [[e @ c / np.linalg.norm(e) / np.linalg.norm(c) for c in class_emb] for e in emb]
    by_hand = [int(np.argmax(row)) for row in cos]
    assert by_hand == [1, 0, 2, 1, 1]  # cloud 1: [2, 0, 1.5] (text weight 1: [2, 0, 3] -> 2)
    # ground truth: the hand answer, except cloud 4, labelled with another class
    gt = [1, 0, 2, 1, 0]
    for sample, label in zip(samples, gt):
        sample.set_metainfo(dict(category=label))
    names = ['chair', 'lamp', 'desk']
    evaluator = Evaluator(dict(
        type='ZeroShotAccuracy', class_names=names, templates=['a {}', 'the {}'],
        text_teacher=dict(type='_PinTextTeacher', table={
            f'{t} {n}': (e / 2).tolist() for n, e in zip(names, class_emb)
            for t in ('a', 'the')})))
    evaluator.process(samples)
    result = evaluator.evaluate(5)
    assert result['zero_shot/top1'] == pytest.approx(80.0)
    # class 0: 1 of 2 right, classes 1 and 2: all right
    assert result['zero_shot/mean_class_acc'] == pytest.approx(100 * (0.5 + 1 + 1) / 3)
