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
    ``random_sample``) or 'fps' (farthest point sampling from point 0).

    A cloud with fewer points raises an error naming the file.
    """

    def __init__(self, num_points: int, method: str = 'random') -> None:
        if method not in ('random', 'fps'):
            raise ValueError(f"method must be 'random' or 'fps', got {method!r}")
        self.num_points = num_points
        self.method = method

    def transform(self, results: dict) -> dict:
        points = results['points']
        n = points.shape[0]
        if n < self.num_points:
            raise ValueError(f'{_where(results)} has {n} points, fewer than the '
                             f'{self.num_points} that PointSubsample needs')
        if self.method == 'random':
            idx = np.random.permutation(n)[:self.num_points]
        else:
            xyz = torch.from_numpy(np.ascontiguousarray(points[None, :, :3]))
            idx = farthest_point_sample(xyz, self.num_points)[0].numpy()
        results['points'] = points[idx]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_points={self.num_points}, method={self.method!r})'


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
    ``PointcloudScaleAndTranslate``: scale in [2/3, 3/2], shift in [-0.2, 0.2])."""

    def __init__(self, scale_range: Tuple[float, float] = (2. / 3., 3. / 2.),
                 translate_range: float = 0.2) -> None:
        self.scale_range = tuple(scale_range)
        self.translate_range = translate_range

    def transform(self, results: dict) -> dict:
        points = results['points'].copy()
        scale = np.random.uniform(*self.scale_range, size=3).astype(np.float32)
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
