"""A stack of ViT blocks with the position embedding added before every block."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import Tensor, nn


def drop_path_rates(drop_path_rate: Union[float, Sequence[float]], depth: int) -> List[float]:
    """Per-block stochastic-depth rates: linear 0 -> ``drop_path_rate``, or an explicit list."""
    if isinstance(drop_path_rate, (list, tuple)):
        if len(drop_path_rate) != depth:
            raise ValueError(f'{len(drop_path_rate)} drop-path rates for {depth} blocks')
        return [float(r) for r in drop_path_rate]
    return [float(r) for r in torch.linspace(0, drop_path_rate, depth)]


class RenormResidualBlock(TransformerEncoderLayer):
    """ReCon's local-token block: each residual restarts from the normalised tensor,

        x = LN1(x);  x = x + Attn(x);  x = LN2(x);  x = x + MLP(x)

    (qizekun/ReCon ``models/transformer.py`` ``Block`` with ``with_contrast``), instead of the
    pre-norm ``x = x + Attn(LN1(x)); x = x + MLP(LN2(x))``. Same parameters as mmpretrain's
    ``TransformerEncoderLayer``."""

    def forward(self, x: Tensor) -> Tensor:
        x = self.ln1(x)
        x = x + self.attn(x)
        x = self.ln2(x)
        return self.ffn(x, identity=x)


BLOCK_TYPES = dict(prenorm=TransformerEncoderLayer, renorm=RenormResidualBlock)


class PosAddedTransformer(nn.Module):
    """``x = block(x + pos)`` for every block (Point-MAE / ACT / ReCon encoders and decoders).

    The blocks are mmpretrain's ``TransformerEncoderLayer`` (pre-norm, SDPA attention, GELU MLP,
    drop-path), or ReCon's ``RenormResidualBlock`` with ``block_type='renorm'``.

    Args:
        embed_dims: token width C.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / C.
        qkv_bias: bias of the qkv projection (the reference has none).
        drop_rate / attn_drop_rate: dropout rates.
        drop_path_rate: maximum stochastic depth (linear over blocks) or one rate per block.
        block_type: 'prenorm' (Point-MAE, ACT) or 'renorm' (ReCon's encoder).
    """

    def __init__(self,
                 embed_dims: int = 384,
                 depth: int = 12,
                 num_heads: int = 6,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: Union[float, Sequence[float]] = 0.1,
                 block_type: str = 'prenorm') -> None:
        super().__init__()
        if block_type not in BLOCK_TYPES:
            raise ValueError(f'block_type must be one of {sorted(BLOCK_TYPES)}, got '
                             f'{block_type!r}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        self.blocks = nn.ModuleList([
            BLOCK_TYPES[block_type](
                embed_dims=embed_dims,
                num_heads=num_heads,
                feedforward_channels=int(embed_dims * mlp_ratio),
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=rate,
                qkv_bias=qkv_bias) for rate in drop_path_rates(drop_path_rate, depth)
        ])

    def forward(self, x: Tensor, pos: Tensor,
                out_indices: Optional[Sequence[int]] = None) -> Tuple[Tensor, List[Tensor]]:
        """x, pos (B, L, C) -> (output (B, L, C), outputs of the blocks in ``out_indices``)."""
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x + pos)
            if out_indices is not None and i in out_indices:
                outs.append(x)
        return x, outs
