"""Inverse-distance interpolation of features from a few centres to every point (the
feature-propagation step of PointNet++ as Point-MAE / ACT / ReCon's part segmentation uses it).

mmcv's ``three_nn`` / ``three_interpolate`` (which mmdet3d's ``PointFPModule`` calls) are
CUDA-only and weight by 1 / Euclidean distance; the reference weights by 1 / squared distance.
The dense (N, S) distance matrix below is what the reference computes too and runs on CPU and
GPU alike (S is the number of group centres: 128 for ShapeNetPart).
"""
from typing import Tuple

import torch
from torch import Tensor


def three_nn(xyz: Tensor, centers: Tensor, k: int = 3) -> Tuple[Tensor, Tensor]:
    """The ``k`` nearest centres of every point.

    Args:
        xyz: (B, N, 3) points.
        centers: (B, S, 3) centres, S >= k.
        k: neighbours per point.

    Returns:
        sq_dist (B, N, k) squared Euclidean distances, ascending; idx (B, N, k) long indices
        into S. Distances are computed from coordinate differences, so a point that is also
        a centre has distance exactly 0.
    """
    if xyz.dim() != 3 or centers.dim() != 3 or xyz.shape[0] != centers.shape[0] \
            or xyz.shape[-1] != 3 or centers.shape[-1] != 3:
        raise ValueError(f'expected points (B, N, 3) and centres (B, S, 3), got '
                         f'{tuple(xyz.shape)} and {tuple(centers.shape)}')
    if centers.shape[1] < k:
        raise ValueError(f'{centers.shape[1]} centres cannot give {k} nearest neighbours')
    sq_dist = ((xyz.unsqueeze(2) - centers.unsqueeze(1))**2).sum(-1)  # (B, N, S)
    return sq_dist.topk(k, dim=-1, largest=False, sorted=True)


def three_nn_interpolate(xyz: Tensor, centers: Tensor, features: Tensor, k: int = 3,
                         eps: float = 1e-8) -> Tensor:
    """Features of ``centers`` interpolated at ``xyz``: the ``k`` nearest centres weighted by
    ``w_i = 1 / (d_i^2 + eps) / sum_j 1 / (d_j^2 + eps)`` (d = Euclidean distance), as the
    reference's ``PointNetFeaturePropagation``. With one centre its feature is copied to every
    point (the reference's ``S == 1`` case).

    Args:
        xyz: (B, N, 3) target points.
        centers: (B, S, 3) source centres.
        features: (B, C, S) features of the centres (channels first, as Conv1d).
        k: neighbours (3 in the reference).
        eps: added to the squared distances.

    Returns:
        (B, C, N) interpolated features (differentiable w.r.t. ``features``).
    """
    if features.dim() != 3 or features.shape[0] != centers.shape[0] \
            or features.shape[2] != centers.shape[1]:
        raise ValueError(f'features must be (B, C, S) for centres {tuple(centers.shape)}, got '
                         f'{tuple(features.shape)}')
    batch, channels, num_centers = features.shape
    num_points = xyz.shape[1]
    if num_centers == 1:
        return features.expand(batch, channels, num_points)
    sq_dist, idx = three_nn(xyz, centers, k)
    weight = 1.0 / (sq_dist + eps)
    weight = weight / weight.sum(dim=-1, keepdim=True)  # (B, N, k)
    # gather along S with the (N * k) indices flattened: the backward scatters into a
    # (B, C, S) gradient (gathering from features expanded to (B, C, N, S) would allocate that
    # whole tensor in the backward: 19 GB for 2 scene blocks)
    gathered = torch.gather(features, 2, idx.reshape(batch, 1, num_points * k).expand(
        batch, channels, num_points * k)).view(batch, channels, num_points, k)
    return (gathered * weight.unsqueeze(1)).sum(-1)
