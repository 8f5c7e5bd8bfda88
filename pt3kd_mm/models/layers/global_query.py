"""ReCon's global queries: learnable tokens that read the local point tokens by
cross-attention in every block, beside (never inside) the local self-attention stream."""
from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import FFN
from mmpretrain.models.utils import CrossMultiheadAttention
from torch import Tensor, nn


class GlobalQueryBlock(nn.Module):
    """One query block, in the reference's order::

        q = LN1(q);  q = q + DropPath(CrossAttn(q, local))
        q = LN2(q);  q = q + DropPath(MLP(q))

    (the residual is taken after each norm, as the ReCon code does). ``local`` are the block's
    normalised local tokens; the queries never feed back into them.

    Args:
        embed_dims: token width C.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / C.
        qkv_bias: biases of the query / value projections.
        drop_rate / attn_drop_rate: dropout rates.
        drop_path_rate: stochastic depth of this block.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed_dims)
        self.cross_attn = CrossMultiheadAttention(
            embed_dims, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop_rate,
            proj_drop=drop_rate)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.ln2 = nn.LayerNorm(embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=dict(type='GELU'))

    def forward(self, queries: Tensor, local: Tensor) -> Tensor:
        """queries (B, Q, C), local (B, L, C) -> queries (B, Q, C)."""
        q = self.ln1(queries)
        q = q + self.drop_path(self.cross_attn(q, k=local, v=local))
        return self.ffn(self.ln2(q))
