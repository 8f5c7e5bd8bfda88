"""Whole-scene inference in fixed-size chunks, each point predicted exactly once.

The scene's xy plane is cut into square cells of side ``stride``. Every point belongs to exactly
one cell and is predicted from a window of side ``block_size`` (>= ``stride``) centred on its
cell, so the encoder sees the same kind of block as in training (mmdet3d's
``IndoorPatchPointSample``: 1.5 m, all heights) with context around the cell. A window holding
more than ``num_points`` points is run several times: its cell's points are split into parts
that each fit, and every run fills up with other points of the window drawn at random; a window
with fewer points is padded with repeats (only the first copy of a point is read).

mmdet3d's ``EncoderDecoder3D.slide_inference`` (mode ``'slide'``) instead averages the logits of
overlapping windows over random subsets, so a point is predicted a varying number of times.
"""
import math
from typing import List, NamedTuple, Optional

import torch
from torch import Tensor


class SceneChunk(NamedTuple):
    """One forward pass of whole-scene inference.

    ``sample_idx`` (num_points,) indices of the scene points fed to the network, ``target_rows``
    (T,) the rows of ``sample_idx`` whose predictions are kept (distinct points of the cell),
    ``center_xy`` (2,) the centre of the window (the input's xy origin).
    """
    sample_idx: Tensor
    target_rows: Tensor
    center_xy: Tensor


def plan_scene_chunks(xy: Tensor, num_points: int, block_size: float, stride: float,
                      generator: Optional[torch.Generator] = None) -> List[SceneChunk]:
    """Cut a scene into chunks so that every point is a target of exactly one chunk.

    Args:
        xy: (N, 2) horizontal coordinates of the scene's points (on the CPU).
        num_points: points per forward pass (the training patch size, 8192).
        block_size: side of the window around each cell (1.5, the training block).
        stride: side of a cell, ``0 < stride <= block_size``.
        generator: random source for the padding and context draws (reproducible plans).

    Returns:
        The chunks, cell by cell. ``torch.cat([c.sample_idx[c.target_rows] for c in chunks])``
        is a permutation of ``arange(N)`` (checked here).
    """
    if xy.dim() != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
        raise ValueError(f'expected the (N, 2) xy coordinates of a non-empty scene, got '
                         f'{tuple(xy.shape)}')
    if not torch.isfinite(xy).all():
        raise ValueError('the scene has NaN or infinite coordinates')
    if num_points < 1 or not 0 < stride <= block_size:
        raise ValueError(f'need num_points >= 1 and 0 < stride <= block_size, got num_points='
                         f'{num_points}, stride={stride}, block_size={block_size}')
    xy = xy.detach().cpu().double()
    low = xy.min(dim=0).values
    cell = torch.floor((xy - low) / stride).long()  # (N, 2)
    num_cells_y = int(cell[:, 1].max()) + 1
    key = cell[:, 0] * num_cells_y + cell[:, 1]
    order = torch.argsort(key, stable=True)
    keys, counts = torch.unique_consecutive(key[order], return_counts=True)
    half = block_size / 2
    chunks: List[SceneChunk] = []
    start = 0
    for cell_key, count in zip(keys.tolist(), counts.tolist()):
        targets = order[start:start + count]
        start += count
        cx, cy = divmod(cell_key, num_cells_y)
        center = low + (torch.tensor([cx, cy], dtype=torch.float64) + 0.5) * stride
        in_window = ((xy - center).abs() <= half).all(dim=1)
        in_window[targets] = False
        context = torch.nonzero(in_window, as_tuple=True)[0]
        window_size = count + context.numel()
        center = center.float()
        if window_size <= num_points:
            base = torch.cat([targets, context])
            pad = base[torch.randint(window_size, (num_points - window_size, ),
                                     generator=generator)]
            chunks.append(_shuffled(torch.cat([base, pad]), count, center, generator))
            continue
        parts = torch.tensor_split(targets[torch.randperm(count, generator=generator)],
                                   math.ceil(window_size / num_points))
        for i, part in enumerate(parts):
            others = torch.cat([*parts[:i], *parts[i + 1:], context])
            need = num_points - part.numel()
            fill = others[torch.randperm(others.numel(), generator=generator)[:need]]
            chunks.append(_shuffled(torch.cat([part, fill]), part.numel(), center, generator))
    covered = torch.cat([c.sample_idx[c.target_rows] for c in chunks])
    if covered.numel() != xy.shape[0] or \
            not torch.equal(torch.sort(covered).values, torch.arange(xy.shape[0])):
        raise RuntimeError('scene chunking did not cover every point exactly once')
    return chunks


def _shuffled(sample_idx: Tensor, num_targets: int, center: Tensor,
              generator: Optional[torch.Generator]) -> SceneChunk:
    """A chunk whose first ``num_targets`` entries are its targets, in a random order (the
    grouping's farthest point sampling starts at the first point)."""
    perm = torch.randperm(sample_idx.numel(), generator=generator)
    rows = torch.argsort(perm)[:num_targets]  # where the targets went
    return SceneChunk(sample_idx[perm], rows, center)
