"""The ReCon encoder: the point-patch transformer plus global queries (cls, img, text) that
cross-attend the local tokens in every block."""
from typing import Dict, Tuple, Union

import torch
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.global_query import GlobalQueryBlock
from ..layers.transformer import drop_path_rates
from .point_patch_transformer import PointPatchTransformer


@MODELS.register_module()
class ReConPointTransformer(PointPatchTransformer):
    """``PointPatchTransformer`` + ``num_queries`` learnable global queries with learnable
    positions (ReCon: cls, img, text).

    In block i the local tokens do ``x = block_i(x + pos)`` as in ``PointPatchTransformer``
    (the queries never feed back into them), with ReCon's block by default
    (``block_type='renorm'``: ``x = LN1(x); x = x + Attn(x); x = LN2(x); x = x + MLP(x)``),
    and the queries do
    ``q = query_block_i(q + q_pos, LN1_i(x + pos))``: LayerNorm, cross-attention over block i's
    normalised local tokens, their own MLP. With ``detach_local=True`` (pre-training) the local
    tokens are detached before the queries read them, so no gradient of a query loss reaches
    the local stream. The final LayerNorm is shared by queries and local tokens.

    Args:
        num_queries: number of global queries; query 0 is the CLS token.
        block_type: the local-token block, 'renorm' (the reference) or 'prenorm'.
        detach_local: stop-gradient from the queries into the local tokens (ReCon pre-training:
            True; fine-tuning: False).
        Others as ``PointPatchTransformer`` (``with_cls_token`` must stay False: the first
        query is the CLS token).
    """

    def __init__(self,
                 num_queries: int = 3,
                 detach_local: bool = True,
                 block_type: str = 'renorm',
                 **kwargs) -> None:
        if kwargs.get('with_cls_token'):
            raise ValueError('ReConPointTransformer: the first global query is the CLS token; '
                             'leave with_cls_token=False')
        if num_queries < 1:
            raise ValueError(f'num_queries must be >= 1, got {num_queries}')
        super().__init__(block_type=block_type, **kwargs)
        self.num_queries = num_queries
        self.detach_local = detach_local
        embed_dims = self.embed_dims
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        self.query_pos = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        first = self.transformer.blocks[0]
        self.query_blocks = nn.ModuleList([
            GlobalQueryBlock(
                embed_dims,
                num_heads=first.attn.num_heads,
                mlp_ratio=first.ffn.feedforward_channels / embed_dims,
                qkv_bias=first.attn.qkv.bias is not None,
                drop_rate=self.drop_rate,
                attn_drop_rate=self.attn_drop_rate,
                drop_path_rate=rate)
            for rate in drop_path_rates(self.drop_path_rate, self.depth)
        ])

    @property
    def num_prefix_tokens(self) -> int:
        return self.num_queries

    def init_weights(self) -> None:
        """As ``PointPatchTransformer``, the queries and their positions truncated normal std
        0.02 (before a ``Pretrained`` ``init_cfg`` can overwrite them)."""
        trunc_normal_(self.query_tokens, std=0.02)
        trunc_normal_(self.query_pos, std=0.02)
        super().init_weights()

    def encode(self, tokens: Tensor, centers: Tensor) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """tokens (B, L, C), centers (B, L, 3) -> (normed [queries; tokens] (B, Q + L, C),
        normed patch tokens of the blocks in ``out_indices``)."""
        x, outs = self.encode_unnormed(tokens, centers)
        return self.norm(x), tuple(self.norm(o) for o in outs)

    def encode_unnormed(self, tokens: Tensor,
                        centers: Tensor) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """As ``encode`` without the final LayerNorm: [queries; tokens] (B, Q + L, C) and the
        patch tokens of the blocks in ``out_indices``, as the last blocks output them."""
        batch = tokens.shape[0]
        pos = self.pos_embed(centers)
        queries = self.query_tokens.expand(batch, -1, -1)
        query_pos = self.query_pos.expand(batch, -1, -1)
        x, outs = tokens, []
        for i, (block, query_block) in enumerate(zip(self.transformer.blocks,
                                                     self.query_blocks)):
            x = x + pos
            local = block.ln1(x)  # what the block's self-attention reads
            queries = query_block(queries + query_pos,
                                  local.detach() if self.detach_local else local)
            x = block(x)
            if i in self.out_indices:
                outs.append(x)
        return torch.cat([queries, x], dim=1), tuple(outs)

    def forward(self, points: Tensor) -> Dict[str, Union[Tensor, Tuple[Tensor, ...]]]:
        """As ``PointPatchTransformer.forward``, plus ``query_tokens`` (B, Q, C): the normed
        global queries (query 0 is also ``cls_token``), and ``query_tokens_unnormed`` (B, Q, C):
        the queries as the last block outputs them, before the final LayerNorm (ReCon's part
        segmentation reads these)."""
        neighborhood, centers, group_idx, center_idx = self.group(points)
        x, outs = self.encode_unnormed(self.patch_embed(neighborhood), centers)
        normed = self.norm(x)
        q = self.num_queries
        return dict(
            tokens=normed[:, q:],
            multi_level_tokens=tuple(self.norm(o) for o in outs),
            centers=centers,
            center_indices=center_idx,
            group_indices=group_idx,
            cls_token=normed[:, 0],
            prefix_tokens=normed[:, :q],
            query_tokens=normed[:, :q],
            query_tokens_unnormed=x[:, :q])
