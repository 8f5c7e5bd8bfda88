"""Mini-PointNet patch embedding and the centre position MLP."""
import torch
from torch import Tensor, nn


class MiniPointNetEmbed(nn.Module):
    """Embeds each group of K points into one token (Point-MAE's patch encoder).

    Layer for layer the reference: 3 -> 128 (BN, ReLU) -> 256, max-pool, concatenate the pooled
    feature to every point (512), 512 -> 512 (BN, ReLU) -> C, max-pool. The per-point 1x1
    convolutions are written as Linear layers on a (points, channels) matrix (the same weights
    as a Conv1d(k=1), squeezed). The 512 -> 512 layer on ``[point feature, pooled feature]`` is
    split as ``W_p @ point + W_g @ pooled``: the pooled half is computed once per group instead
    of once per point, the same function at 3/4 of that layer's cost.

    Args:
        embed_dims: C, the token width.
        in_channels: input channels per point (3 for xyz).
    """

    def __init__(self, embed_dims: int = 384, in_channels: int = 3) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.first_conv = nn.Sequential(
            nn.Linear(in_channels, 128), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Linear(128, 256))
        # weight of the 512 -> 512 layer applied to [point (256), pooled (256)]
        self.second_fc1 = nn.Linear(512, 512)
        self.second_norm = nn.BatchNorm1d(512)
        self.second_fc2 = nn.Linear(512, embed_dims)

    def forward(self, groups: Tensor) -> Tensor:
        """groups (..., K, in_channels) -> tokens (..., C)."""
        lead, k = groups.shape[:-2], groups.shape[-2]
        x = groups.reshape(-1, groups.shape[-1])
        feat = self.first_conv(x).reshape(-1, k, 256)  # (G', K, 256)
        pooled = feat.max(dim=1).values  # (G', 256)
        w_point, w_pooled = self.second_fc1.weight.split(256, dim=1)
        per_group = torch.addmm(self.second_fc1.bias, pooled, w_pooled.t())  # (G', 512)
        h = torch.matmul(feat, w_point.t()) + per_group.unsqueeze(1)  # (G', K, 512)
        h = torch.relu(self.second_norm(h.reshape(-1, 512)))
        h = self.second_fc2(h).reshape(-1, k, self.embed_dims)
        return h.max(dim=1).values.reshape(*lead, self.embed_dims)


def center_pos_embed(embed_dims: int, hidden_dims: int = 128, in_channels: int = 3) -> nn.Module:
    """Position MLP of the group centres: Linear(3, 128) -> GELU -> Linear(128, C)."""
    return nn.Sequential(
        nn.Linear(in_channels, hidden_dims), nn.GELU(), nn.Linear(hidden_dims, embed_dims))
