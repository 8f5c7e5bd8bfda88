"""Learnable concept queries that read every encoder layer through ONE shared decoder layer."""
from typing import Optional, Sequence, Union

import torch
from mmdet.models.layers.transformer import DetrTransformerDecoderLayer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS


@MODELS.register_module()
class ConceptQueryDecoder(BaseModule):
    """``num_queries`` learnable concept queries refined by one ``DetrTransformerDecoderLayer``
    (mmdet: self-attention -> LN -> cross-attention -> LN -> FFN -> LN, residuals inside each
    sub-layer, batch first) whose parameters are SHARED across depth: after encoder layer l,

        queries_l = layer(queries_{l-1}, memory = point tokens of encoder layer l)

    so an encoder of depth L calls the layer L times with L different memories, and the number
    of parameters is one decoder layer + the queries whatever L is.

    The memory of layer l is what ``PointPatchTransformer.encode`` returns for ``out_indices``
    = every block: the block's output passed through the encoder's final LayerNorm (one norm
    shared by all layers, so every memory has the same scale; the last memory is the encoder's
    output). ``key_pos`` (optional, e.g. the encoder's centre position embedding, as the encoder
    adds it before every block) is added to the keys only, never to the values.

    Args:
        embed_dims: token width C (taken from the backbone by ``ConceptDistill``).
        num_heads: attention heads of the self- and cross-attention.
        num_queries: Q concept queries (the seed paper: 32).
        mlp_ratio: FFN hidden width / C.
        attn_drop / proj_drop / ffn_drop: dropout rates.
        act_cfg: FFN activation (GELU, as the encoder's blocks; DETR uses ReLU).
        init_cfg: default: queries truncated normal std 0.02, every weight matrix of the layer
            xavier uniform (mmdet DETR's decoder), biases and norms as built (0 / 1).
    """

    def __init__(self,
                 embed_dims: int = 384,
                 num_heads: int = 6,
                 num_queries: int = 32,
                 mlp_ratio: float = 4.0,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 ffn_drop: float = 0.0,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'ConceptQueryDecoder: embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads})')
        if num_queries < 1:
            raise ValueError(f'ConceptQueryDecoder: num_queries must be >= 1, got {num_queries}')
        self.embed_dims = embed_dims
        self.num_queries = num_queries
        self.queries = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        attn = dict(embed_dims=embed_dims, num_heads=num_heads, attn_drop=attn_drop,
                    proj_drop=proj_drop, batch_first=True)
        self.layer = DetrTransformerDecoderLayer(
            self_attn_cfg=dict(attn),
            cross_attn_cfg=dict(attn),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=int(embed_dims * mlp_ratio),
                         num_fcs=2, ffn_drop=ffn_drop,
                         act_cfg=act_cfg or dict(type='GELU')),
            norm_cfg=dict(type='LN'))

    def init_weights(self) -> None:
        """``init_cfg`` when given, else the default of the class docstring."""
        super().init_weights()
        if self.init_cfg is None:
            trunc_normal_(self.queries, std=0.02)
            for param in self.layer.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)

    def forward(self, layer_tokens: Sequence[Tensor],
                key_pos: Optional[Tensor] = None) -> Tensor:
        """Read the encoder layer by layer.

        Args:
            layer_tokens: the memories, one (B, L, C) tensor per encoder layer, first layer
                first (L may be the visible groups only).
            key_pos: (B, L, C) added to the keys of every cross-attention, or None.

        Returns:
            (B, Q, C) concept tokens after the last layer.
        """
        if not layer_tokens:
            raise ValueError('ConceptQueryDecoder: no encoder layer tokens to read')
        batch = layer_tokens[0].shape[0]
        queries = self.queries.expand(batch, -1, -1)
        for memory in layer_tokens:
            queries = self.layer(queries, key=memory, value=memory, key_pos=key_pos)
        return queries
