"""Test-time voting of the reference fine-tuning runners (``validate_vote`` / ``test_vote``)."""
import math
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor


def augment_clouds(points: Tensor, scale_range: Optional[Sequence[float]] = None,
                   translate_range: float = 0.0, rotate_up_axis: Optional[int] = None,
                   generator: Optional[torch.Generator] = None) -> Tensor:
    """Random per-cloud augmentation of a batch, in the reference's order and forms.

    Args:
        points: (B, N, 3) clouds.
        scale_range: per-axis scale uniform in [low, high) per cloud (``PointcloudScale``), or
            None for no scaling.
        translate_range: per-axis shift uniform in [-t, t) per cloud, added after the scale
            (``PointcloudScaleAndTranslate``); 0 for none.
        rotate_up_axis: rotate by an angle uniform in [0, 2 pi) about this axis
            (``PointcloudRotate`` with 1: ``points @ [[c, 0, s], [0, 1, 0], [-s, 0, c]]``), or
            None.
        generator: the random stream (default: torch's global one).

    Draw order per call: scale (B, 3), shift (B, 3), angle (B, ), each only when enabled.

    Returns:
        (B, N, 3) augmented clouds.
    """
    batch = points.shape[0]

    def uniform(shape, low, high):
        rand = torch.rand(shape, generator=generator, dtype=torch.float64)
        return (low + (high - low) * rand).to(points)

    if scale_range is not None:
        points = points * uniform((batch, 1, 3), *scale_range)
    if translate_range:
        points = points + uniform((batch, 1, 3), -translate_range, translate_range)
    if rotate_up_axis is not None:
        angle = uniform((batch, ), 0.0, 2 * math.pi)
        c, s = torch.cos(angle), torch.sin(angle)
        a, b = [i for i in range(3) if i != rotate_up_axis]
        rot = torch.eye(3, dtype=points.dtype, device=points.device).repeat(batch, 1, 1)
        # points @ R, R[a, a] = R[b, b] = c, R[a, b] = s, R[b, a] = -s (the y axis: a, b = 0, 2)
        rot[:, a, a], rot[:, b, b] = c, c
        rot[:, a, b], rot[:, b, a] = s, -s
        points = points @ rot
    return points


def vote_logits(logits_fn: Callable[[Tensor], Tensor], points: Tensor, num_votes: int,
                num_points: int, scale_range: Optional[Sequence[float]] = None,
                translate_range: float = 0.0, rotate_up_axis: Optional[int] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """Average the logits of ``num_votes`` random views of each cloud.

    Each vote draws ``num_points`` of the N candidate points at random without replacement
    (one draw for the whole batch, as the reference's ``np.random.choice``), augments each cloud
    (``augment_clouds``) and scores it; the logits (not the probabilities) are averaged.

    Args:
        logits_fn: (B, num_points, 3) -> (B, num_classes) logits.
        points: (B, N, 3) candidate points (the reference's FPS of 1200 / 2400 points).
        num_votes: number of views.
        num_points: points per view (<= N).
        scale_range / translate_range / rotate_up_axis / generator: see ``augment_clouds``.

    Returns:
        (B, num_classes) mean logits.
    """
    num_candidates = points.shape[1]
    if not 0 < num_points <= num_candidates:
        raise ValueError(f'voting draws {num_points} points per view from clouds of '
                         f'{num_candidates}; feed at least {num_points} points (the test '
                         f'pipeline samples the candidates)')
    if num_votes < 1:
        raise ValueError(f'num_votes must be >= 1, got {num_votes}')
    total = None
    for _ in range(num_votes):
        idx = torch.randperm(num_candidates, generator=generator)[:num_points]
        view = augment_clouds(points[:, idx.to(points.device)], scale_range, translate_range,
                              rotate_up_axis, generator)
        logits = logits_fn(view)
        total = logits if total is None else total + logits
    return total / num_votes
