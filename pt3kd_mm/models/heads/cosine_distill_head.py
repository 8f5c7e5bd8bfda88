"""Regresses teacher features with a 1 - cosine loss over masked tokens (ACT stage 2)."""
from typing import Optional, Union

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS


@MODELS.register_module()
class CosineDistillHead(BaseModule):
    """Linear(C, C_teacher) then ``1 - cos(pred, target)`` averaged over tokens.

    Args:
        embed_dims: student token width.
        target_dims: teacher feature width.
    """

    def __init__(self, embed_dims: int = 384, target_dims: int = 384,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.proj = nn.Linear(embed_dims, target_dims)

    def loss(self, tokens: Tensor, target: Tensor) -> Tensor:
        """tokens (B, M, C), target (B, M, C_teacher) -> scalar."""
        if tokens.shape[:-1] != target.shape[:-1]:
            raise ValueError(f'{tuple(tokens.shape)} student tokens vs {tuple(target.shape)} '
                             f'teacher targets')
        return (1 - F.cosine_similarity(self.proj(tokens), target, dim=-1)).mean()
