"""DGCNN over group tokens (Point-BERT / ACT dVAE): edge convolutions on the kNN graph of the
group centres."""
from typing import Optional

import torch
from torch import Tensor, nn

from ...ops import gather_points, knn_query


class TokenDGCNN(nn.Module):
    """(B, G, C_in) tokens + (B, G, 3) centres -> (B, G, C_out).

    Linear C_in -> 128, four EdgeConv layers (128 -> 256 -> 512 -> 512 -> 1024; edge feature
    ``[f_j - f_i, f_i]`` over the ``k`` nearest centres, 1x1 conv, GroupNorm(4), LeakyReLU 0.2,
    max over neighbours), concatenation (2304) and a last 1x1 conv + GroupNorm + LeakyReLU.

    Args:
        in_channels / out_channels: token widths.
        k: neighbours in the centre graph (4 in the reference).
    """

    def __init__(self, in_channels: int, out_channels: int, k: int = 4) -> None:
        super().__init__()
        self.k = k
        self.input_trans = nn.Linear(in_channels, 128)
        widths = [(128, 256), (256, 512), (512, 512), (512, 1024)]
        self.edge_layers = nn.ModuleList([
            nn.Sequential(nn.Linear(2 * c_in, c_out, bias=False), _GroupNormLast(4, c_out),
                          nn.LeakyReLU(0.2)) for c_in, c_out in widths
        ])
        self.out_layer = nn.Sequential(
            nn.Linear(sum(c for _, c in widths), out_channels, bias=False),
            _GroupNormLast(4, out_channels), nn.LeakyReLU(0.2))

    def graph(self, centers: Tensor) -> Tensor:
        """(B, G, 3) centres -> (B, G, k) indices of each centre's k nearest (itself first)."""
        return knn_query(centers, centers, min(self.k, centers.shape[1])).to(centers.device)

    def forward(self, tokens: Tensor, centers: Tensor, idx: Optional[Tensor] = None) -> Tensor:
        """``idx``: a precomputed ``graph(centers)``, to share it between DGCNNs."""
        if idx is None:
            idx = self.graph(centers)
        f = self.input_trans(tokens)
        outs = []
        for layer in self.edge_layers:
            neighbors = gather_points(f, idx)  # (B, G, k, C)
            center = f.unsqueeze(2).expand_as(neighbors)
            f = layer(torch.cat([neighbors - center, center], dim=-1)).max(dim=2).values
            outs.append(f)
        return self.out_layer(torch.cat(outs, dim=-1))


class _GroupNormLast(nn.GroupNorm):
    """GroupNorm of (B, ..., C) features, statistics per sample over its channel group and all
    positions (as GroupNorm on the reference's (B, C, ...) conv features)."""

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1, x.shape[-1]).transpose(1, 2)  # (B, C, positions)
        return super().forward(flat).transpose(1, 2).reshape(x.shape)
