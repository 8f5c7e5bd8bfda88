"""Group masks for masked point modelling. ``True`` marks a masked (hidden) group."""
from typing import Optional

import torch
from torch import Tensor


def num_masked(num_groups: int, mask_ratio: float, name: str = 'mask_ratio') -> int:
    """Groups hidden per cloud: int(ratio * G), as the reference.

    Raises:
        ValueError: naming ``name`` unless 0 < mask_ratio < 1 and at least one group is hidden
            (masked point modelling reconstructs the hidden groups: with none, the loss has no
            target) and one stays visible.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f'{name} must be in (0, 1), got {mask_ratio}: masked point modelling '
                         f'hides that fraction of the groups and reconstructs them (the '
                         f'references use 0.6 for Point-MAE / ReCon, 0.8 for ACT)')
    n = int(mask_ratio * num_groups)
    if n < 1:
        raise ValueError(f'{name}={mask_ratio} hides int({mask_ratio} * {num_groups}) = 0 of the '
                         f'{num_groups} groups; raise it to at least {1 / num_groups:.3g} '
                         f'(or use more groups): masked point modelling needs a hidden group')
    return n


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
