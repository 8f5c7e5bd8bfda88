"""Building blocks of 3DETR (Misra et al., ICCV 2021; facebookresearch/3detr ``models/``): the
1x1-conv MLP used for projections and heads, the Fourier position embedding of coordinates and
the pre-norm DETR encoder / decoder layers."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn


def conv_mlp(in_channels: int,
             hidden_channels: Sequence[int],
             out_channels: int,
             norm: bool = True,
             dropout: Optional[float] = None,
             hidden_bias: bool = False,
             out_bias: bool = True,
             out_norm_act: bool = False,
             out_act_only: bool = False) -> nn.Sequential:
    """Point-wise MLP of Conv1d layers on (B, C, L) features: per hidden layer Conv1d (+ BN1d)
    + ReLU (+ Dropout), then an output Conv1d, optionally followed by BN1d + ReLU
    (``out_norm_act``) or ReLU alone (``out_act_only``). The reference's ``GenericMLP`` with
    ``use_conv=True``, with PyTorch's default initialisation as there."""
    layers: List[nn.Module] = []
    prev = in_channels
    for width in hidden_channels:
        layers.append(nn.Conv1d(prev, width, 1, bias=hidden_bias))
        if norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        if dropout is not None:
            layers.append(nn.Dropout(dropout))
        prev = width
    layers.append(nn.Conv1d(prev, out_channels, 1, bias=out_bias))
    if out_norm_act:
        layers += [nn.BatchNorm1d(out_channels), nn.ReLU()]
    elif out_act_only:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def normalize_to_range(xyz: Tensor, xyz_min: Tensor, xyz_max: Tensor) -> Tensor:
    """Map coordinates (B, L, 3) into [0, 1] per axis with the scene's (B, 3) min / max."""
    return (xyz - xyz_min[:, None]) / (xyz_max - xyz_min)[:, None]


class FourierPositionEmbedding(nn.Module):
    """Random Fourier features of coordinates normalised by the scene's extent: for
    x in [0, 1]^3, ``[sin(2 pi x B), cos(2 pi x B)]`` with a fixed Gaussian B (3, C/2), kept as
    a buffer so checkpoints carry it. No gradient flows through it (as in the reference)."""

    def __init__(self, embed_dims: int, in_channels: int = 3, gauss_scale: float = 1.0) -> None:
        super().__init__()
        if embed_dims % 2:
            raise ValueError(f'FourierPositionEmbedding needs an even embed_dims, '
                             f'got {embed_dims}')
        self.embed_dims = embed_dims
        self.register_buffer('gauss_B', torch.randn(in_channels, embed_dims // 2) * gauss_scale)

    @torch.no_grad()
    def forward(self, xyz: Tensor, xyz_min: Tensor, xyz_max: Tensor) -> Tensor:
        """xyz (B, L, 3), scene min / max (B, 3) -> (B, L, embed_dims)."""
        proj = (normalize_to_range(xyz, xyz_min, xyz_max) * (2 * math.pi)) @ self.gauss_B
        return torch.cat([proj.sin(), proj.cos()], dim=-1)


class PreNormEncoderLayer(nn.Module):
    """x = x + Drop(SelfAttn(LN(x))); x = x + Drop(FFN(LN(x))), FFN = Linear-ReLU-Drop-Linear;
    the position embedding (if any) is added to queries and keys only."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 4, ffn_dims: int = 128,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                               batch_first=True)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, ffn_dims), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(ffn_dims, embed_dims))
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Optional[Tensor] = None) -> Tensor:
        """x (B, L, C), pos (B, L, C) or None -> (B, L, C)."""
        h = self.norm1(x)
        q = h if pos is None else h + pos
        x = x + self.drop1(self.self_attn(q, q, h, need_weights=False)[0])
        return x + self.drop2(self.ffn(self.norm2(x)))


class PreNormDecoderLayer(nn.Module):
    """DETR decoder layer, pre-norm: self-attention among queries, cross-attention to the
    encoder tokens, FFN; query positions are added to the queries (and self-attention keys),
    token positions to the cross-attention keys."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 4, ffn_dims: int = 256,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                               batch_first=True)
        self.cross_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                                batch_first=True)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.norm3 = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, ffn_dims), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(ffn_dims, embed_dims))
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        self.drop3 = nn.Dropout(dropout)

    def forward(self, query: Tensor, memory: Tensor, query_pos: Tensor,
                memory_pos: Tensor) -> Tensor:
        """query / query_pos (B, Q, C); memory / memory_pos (B, L, C) -> (B, Q, C)."""
        h = self.norm1(query)
        q = h + query_pos
        query = query + self.drop1(self.self_attn(q, q, h, need_weights=False)[0])
        h = self.norm2(query)
        query = query + self.drop2(
            self.cross_attn(h + query_pos, memory + memory_pos, memory, need_weights=False)[0])
        return query + self.drop3(self.ffn(self.norm3(query)))


class PreNormDecoder(nn.Module):
    """A stack of ``PreNormDecoderLayer`` returning every layer's output after a shared final
    LayerNorm (the auxiliary outputs), as the reference's ``TransformerDecoder`` with
    ``return_intermediate=True``."""

    def __init__(self, num_layers: int = 8, embed_dims: int = 256, num_heads: int = 4,
                 ffn_dims: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            PreNormDecoderLayer(embed_dims, num_heads, ffn_dims, dropout)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, query: Tensor, memory: Tensor, query_pos: Tensor,
                memory_pos: Tensor) -> Tensor:
        """-> (num_layers, B, Q, C)."""
        outs = []
        for layer in self.layers:
            query = layer(query, memory, query_pos, memory_pos)
            outs.append(self.norm(query))
        return torch.stack(outs)


def xavier_init_matrices(module: nn.Module) -> None:
    """Xavier-uniform for every parameter with more than one dimension (the reference's
    initialisation of its transformer encoder and decoder)."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


__all__: Tuple[str, ...] = ('conv_mlp', 'normalize_to_range', 'FourierPositionEmbedding',
                            'PreNormEncoderLayer', 'PreNormDecoderLayer', 'PreNormDecoder',
                            'xavier_init_matrices')
