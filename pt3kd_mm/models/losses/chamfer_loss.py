"""Chamfer distances as defined by the Point-MAE lineage (Point-MAE, Pang et al., ECCV 2022;
its ``extensions/chamfer_dist`` ``ChamferDistanceL1`` / ``ChamferDistanceL2``).

For a predicted set P and a target set T, with d1 / d2 the squared nearest-neighbour distances
from P to T and from T to P:
CD-L2(P, T) = mean(d1) + mean(d2), CD-L1(P, T) = (mean(sqrt(d1)) + mean(sqrt(d2))) / 2.
The batch value is the mean over the sets of the batch (all sets of a batch have the same size,
so this equals the reference's mean over all points). mmdet3d's ``ChamferDistance`` with mode
'l1' is a smooth-L1 of coordinate differences, a different quantity.

``chamfer_distance`` is the one functional core: the loss (``PointChamferLoss``) and the
reconstruction metric (``PointMAE.predict``) both call it.
"""
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ...ops import nearest_neighbor_sq_dist

# sqrt has an infinite derivative at 0; distances are clamped to this before the root
_SQRT_EPS = 1e-12
_MODES = ('l1', 'l2')
_REDUCTIONS = ('none', 'mean', 'sum')


def chamfer_distance(pred: Tensor, target: Tensor, mode: str = 'l2',
                     reduction: str = 'mean') -> Tensor:
    """Chamfer distance of B pairs of point sets.

    Args:
        pred: (B, N, 3) predicted sets.
        target: (B, M, 3) target sets.
        mode: 'l2' (CD-L2) or 'l1' (CD-L1), see the module docstring.
        reduction: 'none' -> (B,) one value per pair; 'mean' / 'sum' -> a scalar.

    Returns:
        (B,) or a scalar.
    """
    if mode not in _MODES:
        raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
    if reduction not in _REDUCTIONS:
        raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')
    d1 = nearest_neighbor_sq_dist(pred, target)
    d2 = nearest_neighbor_sq_dist(target, pred)
    if mode == 'l2':
        per_set = d1.mean(1) + d2.mean(1)
    else:
        per_set = (d1.clamp_min(_SQRT_EPS).sqrt().mean(1) +
                   d2.clamp_min(_SQRT_EPS).sqrt().mean(1)) / 2
    if reduction == 'none':
        return per_set
    return per_set.mean() if reduction == 'mean' else per_set.sum()


def chamfer_distance_l2(pred: Tensor, target: Tensor) -> Tensor:
    """CD-L2 of (B, N, 3) and (B, M, 3) point sets, batch mean -> scalar."""
    return chamfer_distance(pred, target, 'l2')


def chamfer_distance_l1(pred: Tensor, target: Tensor) -> Tensor:
    """CD-L1 of (B, N, 3) and (B, M, 3) point sets, batch mean -> scalar."""
    return chamfer_distance(pred, target, 'l1')


@MODELS.register_module()
class PointChamferLoss(nn.Module):
    """Chamfer loss between predicted and target point sets.

    Args:
        mode: 'l2' (CD-L2) or 'l1' (CD-L1).
        reduction: 'mean' (the reference) or 'sum' over the sets of the batch.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, mode: str = 'l2', reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be 'l1' or 'l2', got {mode!r}")
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.mode = mode
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred (B, N, 3), target (B, M, 3) -> scalar loss."""
        return self.loss_weight * chamfer_distance(pred, target, self.mode, self.reduction)
