"""Point-MAE decoder: visible tokens + shared mask tokens, full position embeddings."""
from typing import Optional, Union

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.patch_embed import center_pos_embed
from ..layers.transformer import PosAddedTransformer
from ..utils.weight_init import default_init_cfg

# the reference decoders' ``_init_weights`` (Point-MAE, ACT, ReCon ``TransformerDecoder``):
# Linear xavier uniform, bias 0; LayerNorm weight 1, bias 0
DECODER_INIT_CFG = [
    dict(type='Xavier', layer='Linear', distribution='uniform', bias=0.),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]


@MODELS.register_module()
class PointMAEDecoder(BaseModule):
    """Decodes masked groups from the visible tokens.

    Args:
        embed_dims: token width C.
        depth: decoder blocks (Point-MAE 4, ACT 2).
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / C.
        drop_path_rate: stochastic depth, linear over the blocks.
        init_cfg: default: as the reference, the blocks and final norm by
            ``DECODER_INIT_CFG`` (xavier uniform), the position MLP with PyTorch's default
            Linear initialisation (the reference's ``decoder_pos_embed`` lives outside its
            decoder and is never re-initialised), the mask token truncated normal std 0.02.
    """

    def __init__(self,
                 embed_dims: int = 384,
                 depth: int = 4,
                 num_heads: int = 6,
                 mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.1,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=default_init_cfg(init_cfg, DECODER_INIT_CFG))
        self.default_init = init_cfg is None
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = center_pos_embed(embed_dims)
        self.transformer = PosAddedTransformer(
            embed_dims, depth, num_heads, mlp_ratio, qkv_bias=False,
            drop_path_rate=drop_path_rate)
        self.norm = nn.LayerNorm(embed_dims)

    def init_weights(self) -> None:
        """Layers by ``init_cfg`` (default: see the class), the mask token truncated normal
        std 0.02."""
        trunc_normal_(self.mask_token, std=0.02)
        super().init_weights()
        if self.default_init:
            for layer in self.pos_embed:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()

    def forward(self, visible_tokens: Tensor, centers: Tensor, mask: Tensor) -> Tensor:
        """Decode.

        Args:
            visible_tokens: (B, G_vis, C) encoder output of the visible groups (no CLS).
            centers: (B, G, 3) all group centres.
            mask: (B, G) bool, True = masked, the same count per cloud.

        Returns:
            (B, G_mask, C) normed tokens of the masked groups, in the order of ``mask``.
        """
        batch, _, dims = visible_tokens.shape
        pos_vis = self.pos_embed(centers[~mask].reshape(batch, -1, 3))
        pos_mask = self.pos_embed(centers[mask].reshape(batch, -1, 3))
        num_mask = pos_mask.shape[1]
        x = torch.cat([visible_tokens, self.mask_token.expand(batch, num_mask, dims)], dim=1)
        x, _ = self.transformer(x, torch.cat([pos_vis, pos_mask], dim=1))
        return self.norm(x[:, -num_mask:])
