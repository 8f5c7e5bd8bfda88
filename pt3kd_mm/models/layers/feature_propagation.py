"""Feature propagation from group centres to every point (PointNet++'s FP layer)."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ...ops import three_nn_interpolate


class CenterFeaturePropagation(nn.Module):
    """Interpolate centre features at every point (3 nearest centres, inverse squared
    distance weights: ``ops.three_nn_interpolate``), concatenate the points' own features
    before them, then 1x1 Conv1d + BatchNorm1d + ReLU per entry of ``mlp_channels``.

    The reference's ``PointNetFeaturePropagation(in_channel, mlp)`` with ``points1`` the skip
    features (the part segmentation passes the xyz coordinates) and ``points2`` the centre
    features. mmdet3d's ``PointFPModule`` is not used: it needs mmcv's CUDA-only
    ``three_nn`` / ``three_interpolate`` and weights by 1 / distance, not 1 / distance^2.

    Args:
        in_channels: skip channels + centre feature channels (the first Conv1d's input).
        mlp_channels: output widths of the Conv1d + BN + ReLU layers.
        num_neighbors: centres interpolated per point (3).
    """

    def __init__(self, in_channels: int, mlp_channels: Sequence[int],
                 num_neighbors: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_neighbors = num_neighbors
        self.mlp_convs = nn.ModuleList()
        self.mlp_bns = nn.ModuleList()
        last = in_channels
        for out in mlp_channels:
            self.mlp_convs.append(nn.Conv1d(last, out, 1))
            self.mlp_bns.append(nn.BatchNorm1d(out))
            last = out
        self.out_channels = last

    def forward(self, xyz: Tensor, centers: Tensor, skip: Optional[Tensor],
                center_features: Tensor) -> Tensor:
        """xyz (B, N, 3), centers (B, S, 3), skip (B, D, N) or None, center_features (B, C, S)
        -> (B, mlp_channels[-1], N)."""
        x = three_nn_interpolate(xyz, centers, center_features, k=self.num_neighbors)
        if skip is not None:
            x = torch.cat([skip, x], dim=1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__}: in_channels={self.in_channels} but the '
                             f'skip + centre features have {x.shape[1]} channels')
        for conv, bn in zip(self.mlp_convs, self.mlp_bns):
            x = torch.relu(bn(conv(x)))
        return x
