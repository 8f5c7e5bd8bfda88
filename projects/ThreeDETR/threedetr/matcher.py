"""Hungarian matching of 3DETR's queries to ground-truth boxes."""
from typing import Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdet3d.registry import TASK_UTILS


@TASK_UTILS.register_module()
class HungarianMatcher3D:
    """One-to-one assignment minimising, per scene,
    ``cost = -w_cls p_cls[gt label] - w_obj p_obj - w_giou GIoU + w_center |c - c_gt|_1``
    with scipy's ``linear_sum_assignment`` (3DETR's ``Matcher``; its ScanNet setting is
    w_cls 1, w_giou 2, w_center 0, w_obj 0).

    Args:
        cls_cost / objectness_cost / giou_cost / center_cost: the weights.
    """

    def __init__(self, cls_cost: float = 1.0, objectness_cost: float = 0.0,
                 giou_cost: float = 2.0, center_cost: float = 0.0) -> None:
        self.cls_cost, self.objectness_cost = cls_cost, objectness_cost
        self.giou_cost, self.center_cost = giou_cost, center_cost

    def cost_matrix(self, cls_prob: Tensor, objectness: Tensor, gt_labels: Tensor,
                    giou: Tensor, center_dist: Tensor) -> Tensor:
        """cls_prob (Q, K) class probabilities (no-object excluded), objectness (Q, ),
        gt_labels (M, ), giou / center_dist (Q, M) -> cost (Q, M)."""
        return (-self.cls_cost * cls_prob[:, gt_labels]
                - self.objectness_cost * objectness[:, None]
                - self.giou_cost * giou + self.center_cost * center_dist)

    @torch.no_grad()
    def __call__(self, cls_prob: Tensor, objectness: Tensor, gt_labels: Tensor, giou: Tensor,
                 center_dist: Tensor) -> Tuple[Tensor, Tensor]:
        """-> (query indices, gt indices), long tensors of length min(Q, M) on the input's
        device; empty when the scene has no box."""
        device = cls_prob.device
        if gt_labels.numel() == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty
        cost = self.cost_matrix(cls_prob, objectness, gt_labels, giou, center_dist)
        if not torch.isfinite(cost).all():
            raise ValueError('HungarianMatcher3D: the cost matrix has NaN / infinite entries '
                             '(non-finite predictions or boxes); check the inputs and the '
                             'learning rate')
        rows, cols = linear_sum_assignment(cost.float().cpu().numpy())
        return (torch.as_tensor(rows, dtype=torch.long, device=device),
                torch.as_tensor(cols, dtype=torch.long, device=device))
