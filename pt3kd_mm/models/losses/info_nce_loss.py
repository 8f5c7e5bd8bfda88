"""Symmetric InfoNCE (CLIP-style) alignment of student embeddings with teacher embeddings."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet3d.registry import MODELS


def symmetric_info_nce(pred: Tensor, target: Tensor, temperature: float = 0.07,
                       exclude_duplicate_targets: bool = True) -> Tensor:
    """Symmetric InfoNCE between matched rows of ``pred`` and ``target``.

    ``logits = cos(pred_i, target_j) / temperature``; the loss is the mean of the
    cross-entropies of rows (pred -> target) and columns (target -> pred) with the diagonal as
    the positive pair.

    Args:
        pred: (B, D) student embeddings.
        target: (B, D) teacher embeddings, row i matched with ``pred[i]``.
        temperature: softmax temperature.
        exclude_duplicate_targets: drop pairs (i, j), i != j, whose teacher embeddings are
            identical from the negatives (two clouds of one category often get the same text
            feature; they are not negatives of each other).

    Returns:
        scalar loss.
    """
    if pred.dim() != 2 or pred.shape != target.shape:
        raise ValueError(f'InfoNCE expects matching (B, D) inputs, got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
    pred = F.normalize(pred.float(), dim=-1)
    target = F.normalize(target.float(), dim=-1)
    logits = pred @ target.t() / temperature
    if exclude_duplicate_targets:
        same = (target @ target.t()) > 1 - 1e-6
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float('-inf'))
    labels = torch.arange(pred.shape[0], device=pred.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


@MODELS.register_module()
class SymmetricInfoNCELoss(nn.Module):
    """``loss_weight * symmetric_info_nce(pred, target)`` (the ReCon paper's contrastive
    alignment; in-batch negatives of each process).

    Args:
        temperature: softmax temperature.
        loss_weight: multiplier.
        exclude_duplicate_targets: see ``symmetric_info_nce``.
    """

    def __init__(self, temperature: float = 0.07, loss_weight: float = 1.0,
                 exclude_duplicate_targets: bool = True) -> None:
        super().__init__()
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.exclude_duplicate_targets = exclude_duplicate_targets

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred, target (B, D) -> scalar."""
        return self.loss_weight * symmetric_info_nce(pred, target, self.temperature,
                                                     self.exclude_duplicate_targets)
