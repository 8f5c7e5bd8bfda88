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


class PosAddedTransformer(nn.Module):
    """``x = block(x + pos)`` for every block (Point-MAE / ACT / ReCon encoders and decoders).

    The blocks are mmpretrain's ``TransformerEncoderLayer`` (pre-norm, SDPA attention, GELU MLP,
    drop-path).

    Args:
        embed_dims: token width C.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / C.
        qkv_bias: bias of the qkv projection (the reference has none).
        drop_rate / attn_drop_rate: dropout rates.
        drop_path_rate: maximum stochastic depth (linear over blocks) or one rate per block.
    """

    def __init__(self,
                 embed_dims: int = 384,
                 depth: int = 12,
                 num_heads: int = 6,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: Union[float, Sequence[float]] = 0.1) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        self.blocks = nn.ModuleList([
            TransformerEncoderLayer(
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
