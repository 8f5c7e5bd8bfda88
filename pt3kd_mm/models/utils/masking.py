"""Group masks for masked point modelling. ``True`` marks a masked (hidden) group."""
from typing import Optional

import torch
from torch import Tensor


def num_masked(num_groups: int, mask_ratio: float) -> int:
    """Groups hidden per cloud: int(ratio * G), as the reference."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
    return int(mask_ratio * num_groups)


def random_group_mask(batch: int, num_groups: int, mask_ratio: float,
                      device: Optional[torch.device] = None,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniformly random mask with exactly int(ratio * G) masked groups per cloud -> (B, G) bool."""
    n = num_masked(num_groups, mask_ratio)
    noise = torch.rand(batch, num_groups, generator=generator, device=device)
    rank = noise.argsort(dim=1).argsort(dim=1)
    return rank < n


def block_group_mask(centers: Tensor, mask_ratio: float,
                     generator: Optional[torch.Generator] = None) -> Tensor:
    """Block mask: the int(ratio * G) groups nearest to one random centre per cloud.

    Args:
        centers: (B, G, 3) group centres.

    Returns:
        (B, G) bool.
    """
    batch, num_groups, _ = centers.shape
    n = num_masked(num_groups, mask_ratio)
    seed = torch.randint(num_groups, (batch, ), generator=generator, device=centers.device)
    seed_xyz = centers[torch.arange(batch, device=centers.device), seed]  # (B, 3)
    dist = (centers - seed_xyz.unsqueeze(1)).norm(dim=-1)
    rank = dist.argsort(dim=1, stable=True).argsort(dim=1)
    return rank < n
