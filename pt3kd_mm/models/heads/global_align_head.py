"""Aligns one global query with a teacher's global feature (ReCon's img / text heads)."""
from typing import Optional, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..utils.weight_init import default_init_cfg


@MODELS.register_module()
class GlobalAlignHead(BaseModule):
    """``Linear(C, C_teacher)`` on a global query, then a regression or contrastive loss against
    the teacher feature.

    Args:
        embed_dims: query width C.
        target_dims: teacher feature width.
        loss: ``dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0)`` (ReCon code, the
            default) or ``dict(type='SymmetricInfoNCELoss', temperature=0.07)`` (ReCon paper).
    """

    def __init__(self,
                 embed_dims: int = 384,
                 target_dims: int = 512,
                 loss: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        # the reference's initialisation of these projections
        super().__init__(init_cfg=default_init_cfg(
            init_cfg, [dict(type='Normal', layer='Linear', mean=0.02, std=0.01, bias=0.)]))
        self.proj = nn.Linear(embed_dims, target_dims)
        self.loss_module = MODELS.build(
            loss or dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0))

    def forward(self, query: Tensor) -> Tensor:
        """query (B, C) -> (B, C_teacher)."""
        return self.proj(query)

    def loss(self, query: Tensor, target: Tensor) -> Tensor:
        """query (B, C), target (B, C_teacher) -> scalar."""
        pred = self.proj(query)
        if pred.shape != target.shape:
            raise ValueError(f'{type(self).__name__}: projected queries {tuple(pred.shape)} vs '
                             f'teacher features {tuple(target.shape)}; set target_dims to the '
                             f"teacher's width")
        return self.loss_module(pred, target.to(pred.dtype))
