"""Maps a set of student tokens to a teacher's global target (caption prefix or embedding)."""
import math
from typing import Optional, Sequence, Tuple, Union

from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..utils.weight_init import default_init_cfg


@MODELS.register_module()
class PrefixAlignHead(BaseModule):
    """A 2-layer MLP from T student tokens to the teacher's target shape + a regression loss.

    The T tokens (B, T, C) are flattened to (B, T * C) (concatenated in token order) ->
    ``Linear(T * C, hidden_dims)`` -> activation -> ``Linear(hidden_dims, prod(target_shape))``
    -> reshaped to (B, *target_shape). Every target element thus reads every token: the 32
    concept queries need no one-to-one assignment to the 10 prefix embeddings (a learnt
    linear mix does it), and the head works the same for the 512-d CLIP embedding target.
    ``ConceptDistill`` feeds it the Q concept tokens, or, without a concept decoder, the
    backbone's patch tokens pooled to T = 2 tokens (max, mean: FPS tokens have no fixed order,
    so they cannot be flattened as they come).

    Args:
        embed_dims: token width C (from the backbone).
        num_tokens: T, tokens per sample (from the concept decoder's ``num_queries``, or 2).
        target_shape: the teacher's per-sample target shape, e.g. (10, 768) ClipCap prefixes,
            (512,) the CLIP image embedding.
        hidden_dims: the MLP's hidden width.
        act_cfg: hidden activation (default GELU).
        loss: loss config (default ``mmdet.MSELoss``, mean over every element).
        init_cfg: default: Linear truncated normal std 0.02, bias 0.
    """

    def __init__(self,
                 embed_dims: int = 384,
                 num_tokens: int = 32,
                 target_shape: Sequence[int] = (10, 768),
                 hidden_dims: int = 1024,
                 act_cfg: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=default_init_cfg(init_cfg))
        self.target_shape: Tuple[int, ...] = tuple(int(s) for s in target_shape)
        if not self.target_shape or min(self.target_shape) < 1:
            raise ValueError(f'PrefixAlignHead: target_shape must be positive sizes, got '
                             f'{target_shape}')
        self.num_tokens = num_tokens
        self.mlp = nn.Sequential(
            nn.Linear(num_tokens * embed_dims, hidden_dims),
            build_activation_layer(act_cfg or dict(type='GELU')),
            nn.Linear(hidden_dims, math.prod(self.target_shape)))
        self.loss_module = MODELS.build(loss or dict(type='mmdet.MSELoss', loss_weight=1.0))

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (B, T, C) -> prediction (B, *target_shape)."""
        if tokens.dim() != 3 or tokens.shape[1] != self.num_tokens:
            raise ValueError(f'PrefixAlignHead expects (B, {self.num_tokens}, C) tokens, got '
                             f'{tuple(tokens.shape)}')
        return self.mlp(tokens.flatten(1)).reshape(tokens.shape[0], *self.target_shape)

    def loss(self, tokens: Tensor, target: Tensor) -> Tensor:
        """tokens (B, T, C), target (B, *target_shape) -> scalar loss."""
        pred = self(tokens)
        if pred.shape != target.shape:
            raise ValueError(f'PrefixAlignHead: prediction {tuple(pred.shape)} vs teacher target '
                             f'{tuple(target.shape)}; set target_shape to the teacher\'s output '
                             f'shape')
        return self.loss_module(pred, target.to(pred.dtype))
