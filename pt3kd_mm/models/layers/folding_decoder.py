"""FoldingNet-style group decoder of the Point-BERT / ACT dVAE."""
import torch
from torch import Tensor, nn


class FoldingGroupDecoder(nn.Module):
    """Decodes one feature per group into ``num_coarse`` coarse and ``num_fine`` fine points
    (relative to the group centre).

    coarse = MLP(C -> 1024 -> 1024 -> 3 * num_coarse); every coarse point is folded with a
    ``grid_size x grid_size`` 2D seed grid: fine = MLP([feature, seed, coarse point]) + coarse
    point (1x1 convs C + 5 -> 512 -> 512 -> 3 with BN and ReLU).

    Args:
        in_channels: feature width C.
        num_fine: fine points per group (the group size, 32); num_coarse = num_fine / grid^2.
        grid_size: folding grid side (2 -> 8 coarse points for 32 fine).
        grid_scale: half extent of the seed grid (0.05 in the reference).
    """

    def __init__(self, in_channels: int, num_fine: int = 32, grid_size: int = 2,
                 grid_scale: float = 0.05) -> None:
        super().__init__()
        if num_fine % (grid_size**2):
            raise ValueError(f'num_fine ({num_fine}) must be a multiple of grid_size^2 '
                             f'({grid_size**2})')
        self.num_fine, self.grid_size = num_fine, grid_size
        self.num_coarse = num_fine // grid_size**2
        self.coarse_mlp = nn.Sequential(
            nn.Linear(in_channels, 1024), nn.ReLU(inplace=True), nn.Linear(1024, 1024),
            nn.ReLU(inplace=True), nn.Linear(1024, 3 * self.num_coarse))
        self.fold = nn.Sequential(
            nn.Linear(in_channels + 5, 512), _BNLast(512), nn.ReLU(inplace=True),
            nn.Linear(512, 512), _BNLast(512), nn.ReLU(inplace=True), nn.Linear(512, 3))
        axis = torch.linspace(-grid_scale, grid_scale, grid_size)
        # seed s = row * grid + col is (axis[col], axis[row]), the reference's order
        seed = torch.stack(torch.meshgrid(axis, axis, indexing='xy'), dim=-1).reshape(-1, 2)
        self.register_buffer('folding_seed', seed, persistent=False)  # (grid^2, 2)

    def forward(self, feature: Tensor):
        """feature (..., C) -> coarse (..., num_coarse, 3), fine (..., num_fine, 3)."""
        lead = feature.shape[:-1]
        f = feature.reshape(-1, feature.shape[-1])
        n = f.shape[0]
        coarse = self.coarse_mlp(f).reshape(n, self.num_coarse, 3)
        g2 = self.grid_size**2
        point = coarse.unsqueeze(2).expand(-1, -1, g2, -1).reshape(n, self.num_fine, 3)
        seed = self.folding_seed.unsqueeze(0).expand(self.num_coarse, -1, -1).reshape(
            1, self.num_fine, 2).expand(n, -1, -1)
        glob = f.unsqueeze(1).expand(-1, self.num_fine, -1)
        fine = self.fold(torch.cat([glob, seed, point], dim=-1)) + point
        return coarse.reshape(*lead, self.num_coarse, 3), fine.reshape(*lead, self.num_fine, 3)


class _BNLast(nn.BatchNorm1d):
    """BatchNorm1d of (N, L, C) features (channels last)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)
