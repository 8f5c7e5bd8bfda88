import pytest
import torch

from mmdet3d.registry import MODELS
from pt3kd_mm.models.losses import chamfer_distance


def test_reduction_none_on_a_hand_example():
    # set 0: pred {(0,0,0), (1,0,0)} vs target {(0,0,0)}: d1 = (0, 1), d2 = (0,)
    # set 1: pred {(0,0,0), (0,0,0)} vs target {(2,0,0)}: d1 = (4, 4), d2 = (4,)
    pred = torch.tensor([[[0., 0, 0], [1, 0, 0]], [[0, 0, 0], [0, 0, 0]]])
    target = torch.tensor([[[0., 0, 0]], [[2, 0, 0]]])
    l2 = chamfer_distance(pred, target, 'l2', reduction='none')
    torch.testing.assert_close(l2, torch.tensor([0.5 + 0, 4 + 4.]))
    l1 = chamfer_distance(pred, target, 'l1', reduction='none')
    torch.testing.assert_close(l1, torch.tensor([(0.5 + 0) / 2, (2 + 2) / 2.]))
    assert chamfer_distance(pred, target, 'l2').item() == pytest.approx(4.25)
    assert chamfer_distance(pred, target, 'l2', reduction='sum').item() == pytest.approx(8.5)
    loss = MODELS.build(dict(type='PointChamferLoss', mode='l1', loss_weight=2.))
    assert loss(pred, target).item() == pytest.approx(2 * (0.25 + 2) / 2)
    with pytest.raises(ValueError, match='reduction'):
        chamfer_distance(pred, target, reduction='max')
    with pytest.raises(ValueError, match='mode'):
        chamfer_distance(pred, target, mode='l3')


def test_l1_gradient_is_finite_at_zero_distance():
    pred = torch.zeros(1, 2, 3, requires_grad=True)
    chamfer_distance(pred, torch.zeros(1, 1, 3), 'l1').backward()
    assert torch.isfinite(pred.grad).all()


def test_point_mae_metric_and_loss_are_the_same_chamfer():
    """predict's per-cloud CD-L2, averaged, is the loss on the same masks and weights."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='PointMAE',
        backbone=dict(type='PointPatchTransformer', embed_dims=32, depth=1, num_heads=2,
                      num_groups=16, group_size=8),
        neck=dict(type='PointMAEDecoder', depth=1, num_heads=2),
        head=dict(type='PointReconstructionHead')))
    model.init_weights()
    model.eval()
    points = torch.rand(3, 128, 3)
    torch.manual_seed(5)
    samples = model(dict(points=points), mode='predict')
    torch.manual_seed(5)
    with torch.no_grad():
        loss = model(dict(points=points), mode='loss')['loss']
    per_cloud = torch.tensor([s.chamfer_l2 for s in samples])
    assert per_cloud.shape == (3, ) and (per_cloud > 0).all()
    assert per_cloud.mean().item() == pytest.approx(loss.item(), rel=1e-5)
