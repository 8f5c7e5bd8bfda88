"""Predicts the K points of each masked group and scores them with a Chamfer loss."""
from typing import Optional, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS


@MODELS.register_module()
class PointReconstructionHead(BaseModule):
    """Linear(C, 3K) per masked token (the reference's Conv1d(C, 3K, 1)) + Chamfer loss.

    Args:
        embed_dims: token width C.
        group_size: K, points predicted per group.
        loss: loss config, default Chamfer-L2.
    """

    def __init__(self,
                 embed_dims: int = 384,
                 group_size: int = 32,
                 loss: dict = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.group_size = group_size
        self.proj = nn.Linear(embed_dims, 3 * group_size)
        self.loss_module = MODELS.build(loss or dict(type='PointChamferLoss', mode='l2'))

    def predict(self, tokens: Tensor) -> Tensor:
        """tokens (B, M, C) -> points (B, M, K, 3) relative to the group centres."""
        return self.proj(tokens).reshape(*tokens.shape[:-1], self.group_size, 3)

    def loss(self, tokens: Tensor, target: Tensor) -> Tensor:
        """tokens (B, M, C), target (B, M, K, 3) -> loss averaged over every masked group."""
        pred = self.predict(tokens)
        return self.loss_module(pred.reshape(-1, self.group_size, 3),
                                target.reshape(-1, target.shape[-2], 3))
