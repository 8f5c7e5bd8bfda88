"""Transforms of single object point clouds held as (N, C) float32 arrays in
``results['points']`` (xyz in the first three columns)."""
from typing import Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

from ...ops import farthest_point_sample


def _where(results: dict) -> str:
    return results.get('pc_path', f"sample {results.get('sample_idx', '?')}")


@TRANSFORMS.register_module()
class PointSubsample(BaseTransform):
    """Sample ``num_points`` points: 'random' (without replacement, the reference's
    ``random_sample``) or 'fps' (farthest point sampling from point 0); with ``replace=True``
    (method 'random' only) ``num_points`` draws with replacement, as the reference's
    ShapeNetPart loader (``np.random.choice(n, num_points, replace=True)``).

    Per-point ``pts_semantic_mask`` (part / semantic labels), when present, is sampled with
    the points. A cloud with fewer points raises an error naming the file (unless
    ``replace``).
    """

    def __init__(self, num_points: int, method: str = 'random', replace: bool = False) -> None:
        if method not in ('random', 'fps'):
            raise ValueError(f"method must be 'random' or 'fps', got {method!r}")
        if replace and method != 'random':
            raise ValueError("replace=True needs method='random'")
        self.num_points = num_points
        self.method = method
        self.replace = replace

    def transform(self, results: dict) -> dict:
        points = results['points']
        n = points.shape[0]
        if self.replace:
            idx = np.random.choice(n, self.num_points, replace=True)
        elif n < self.num_points:
            raise ValueError(f'{_where(results)} has {n} points, fewer than the '
                             f'{self.num_points} that PointSubsample needs')
        elif self.method == 'random':
            idx = np.random.permutation(n)[:self.num_points]
        else:
            xyz = torch.from_numpy(np.ascontiguousarray(points[None, :, :3]))
            idx = farthest_point_sample(xyz, self.num_points)[0].numpy()
        results['points'] = points[idx]
        if 'pts_semantic_mask' in results:
            results['pts_semantic_mask'] = results['pts_semantic_mask'][idx]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_points={self.num_points}, method={self.method!r}, '
                f'replace={self.replace})')


@TRANSFORMS.register_module()
class NormalizeToUnitSphere(BaseTransform):
    """Centre xyz on the centroid and scale so the farthest point is at distance 1."""

    def transform(self, results: dict) -> dict:
        points = results['points'].copy()
        xyz = points[:, :3]
        xyz -= xyz.mean(axis=0)
        radius = np.sqrt((xyz**2).sum(axis=1)).max()
        if not radius > 0:
            raise ValueError(f'{_where(results)}: all points coincide, the cloud cannot be '
                             f'normalised to the unit sphere')
        xyz /= radius
        results['points'] = points
        return results


@TRANSFORMS.register_module()
class RandomScaleTranslate(BaseTransform):
    """Per-axis random scale then per-axis random translation (the reference's
    ``PointcloudScaleAndTranslate``: scale in [2/3, 3/2], shift in [-0.2, 0.2]).

    ``per_axis_scale=False`` draws one scale for all axes: the reference part segmentation's
    ``random_scale_point_cloud`` (scale in [0.8, 1.25]) + ``shift_point_cloud`` (shift in
    [-0.1, 0.1] per axis)."""

    def __init__(self, scale_range: Tuple[float, float] = (2. / 3., 3. / 2.),
                 translate_range: float = 0.2, per_axis_scale: bool = True) -> None:
        self.scale_range = tuple(scale_range)
        self.translate_range = translate_range
        self.per_axis_scale = per_axis_scale

    def transform(self, results: dict) -> dict:
        points = results['points'].copy()
        scale = np.random.uniform(*self.scale_range,
                                  size=3 if self.per_axis_scale else 1).astype(np.float32)
        shift = np.random.uniform(-self.translate_range, self.translate_range,
                                  size=3).astype(np.float32)
        points[:, :3] = points[:, :3] * scale + shift
        results['points'] = points
        return results


@TRANSFORMS.register_module()
class RandomRotateUpAxis(BaseTransform):
    """Rotate xyz about the up axis by an angle uniform in ``angle_range`` (radians).

    With ``up_axis=1`` the points become ``points @ R``, ``R = [[c, 0, s], [0, 1, 0],
    [-s, 0, c]]`` (c, s = cos, sin of the angle): the reference ReCon's ``PointcloudRotate``
    with ``angle_range=(0, 2 pi)``. mmdet3d's ``GlobalRotScaleTrans`` cannot stand in: it works
    on ``BasePoints`` (not the (N, C) arrays here) and rotates depth / LiDAR points about z.

    Args:
        up_axis: 0, 1 or 2; ShapeNet objects are y-up (1).
        angle_range: [low, high) of the uniform angle.

    Added key: ``rotation_angle`` (the angle drawn).
    """

    def __init__(self, up_axis: int = 1,
                 angle_range: Sequence[float] = (-np.pi, np.pi)) -> None:
        if up_axis not in (0, 1, 2):
            raise ValueError(f'up_axis must be 0, 1 or 2, got {up_axis}')
        self.up_axis = up_axis
        self.angle_range = tuple(angle_range)

    def transform(self, results: dict) -> dict:
        angle = np.random.uniform(*self.angle_range)
        c, s = np.cos(angle), np.sin(angle)
        a, b = [i for i in range(3) if i != self.up_axis]
        rot = np.eye(3, dtype=np.float32)
        rot[a, a], rot[a, b], rot[b, a], rot[b, b] = c, -s, s, c
        points = results['points'].copy()
        points[:, :3] = points[:, :3] @ rot.T
        results['points'] = points
        results['rotation_angle'] = float(angle)
        return results


@TRANSFORMS.register_module()
class FPSRandomSubsample(BaseTransform):
    """The reference fine-tuning runners' sampling: farthest point sampling of
    ``num_candidates`` points (``min(num_candidates, N)``), then ``num_points`` of them at
    random without replacement (1024 of 1200, 2048 of 2400 -> of the 2048 ScanObjectNN points).

    The FPS starts from point 0; with ``shuffle=True`` (training: the reference datasets shuffle
    every training cloud) the cloud is permuted first, so the start is a random point.

    Args:
        num_points: points kept.
        num_candidates: FPS points drawn from (>= num_points).
        shuffle: permute the cloud before the FPS.
    """

    def __init__(self, num_points: int, num_candidates: int, shuffle: bool = True) -> None:
        if num_candidates < num_points:
            raise ValueError(f'num_candidates ({num_candidates}) must be >= num_points '
                             f'({num_points})')
        self.num_points = num_points
        self.num_candidates = num_candidates
        self.shuffle = shuffle

    def transform(self, results: dict) -> dict:
        points = results['points']
        n = points.shape[0]
        if n < self.num_points:
            raise ValueError(f'{_where(results)} has {n} points, fewer than the '
                             f'{self.num_points} that FPSRandomSubsample needs')
        if self.shuffle:
            points = points[np.random.permutation(n)]
        num_candidates = min(self.num_candidates, n)
        xyz = torch.from_numpy(np.ascontiguousarray(points[None, :, :3]))
        candidates = farthest_point_sample(xyz, num_candidates)[0].numpy()
        keep = candidates[np.random.choice(num_candidates, self.num_points, replace=False)]
        results['points'] = points[keep]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_points={self.num_points}, '
                f'num_candidates={self.num_candidates}, shuffle={self.shuffle})')
