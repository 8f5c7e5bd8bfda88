"""Chamfer distances as defined by the Point-MAE lineage (see REFERENCE.md).

CD-L2 = mean(d1) + mean(d2), CD-L1 = (mean(sqrt(d1)) + mean(sqrt(d2))) / 2, where d1 / d2 are
the squared nearest-neighbour distances from prediction to target and back, averaged over all
points of all sets in the batch. (mmdet3d's ``ChamferDistance`` with mode 'l1' is a smooth-L1 of
coordinate differences, a different quantity.)
"""
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.point_ops import nearest_neighbor_sq_dist

# sqrt has an infinite derivative at 0; distances are clamped to this before the root
_SQRT_EPS = 1e-12


def chamfer_distance_l2(pred: Tensor, target: Tensor) -> Tensor:
    """CD-L2 of (B, N, 3) and (B, M, 3) point sets -> scalar."""
    d1 = nearest_neighbor_sq_dist(pred, target)
    d2 = nearest_neighbor_sq_dist(target, pred)
    return d1.mean() + d2.mean()


def chamfer_distance_l1(pred: Tensor, target: Tensor) -> Tensor:
    """CD-L1 of (B, N, 3) and (B, M, 3) point sets -> scalar."""
    d1 = nearest_neighbor_sq_dist(pred, target)
    d2 = nearest_neighbor_sq_dist(target, pred)
    return (d1.clamp_min(_SQRT_EPS).sqrt().mean() + d2.clamp_min(_SQRT_EPS).sqrt().mean()) / 2


@MODELS.register_module()
class PointChamferLoss(nn.Module):
    """Chamfer loss between predicted and target point sets.

    Args:
        mode: 'l2' (CD-L2) or 'l1' (CD-L1).
        loss_weight: multiplier of the loss.
    """

    def __init__(self, mode: str = 'l2', loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in ('l1', 'l2'):
            raise ValueError(f"mode must be 'l1' or 'l2', got {mode!r}")
        self.mode = mode
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred (B, N, 3), target (B, M, 3) -> scalar loss."""
        fn = chamfer_distance_l2 if self.mode == 'l2' else chamfer_distance_l1
        return self.loss_weight * fn(pred, target)
