"""Loading object point clouds stored as .npy arrays or comma-separated .txt files."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS


def _read_cloud(path: str) -> np.ndarray:
    """The array in ``path``: ``.txt`` files are parsed as comma-separated rows (ModelNet40's
    ``x,y,z,nx,ny,nz``), anything else as ``.npy``."""
    if str(path).lower().endswith('.txt'):
        try:
            with open(path) as f:
                return np.loadtxt(f, delimiter=',', dtype=np.float32, ndmin=2)
        except FileNotFoundError:
            raise FileNotFoundError(f'point cloud file {path} does not exist') from None
        except Exception as err:
            raise ValueError(f'point cloud file {path} is unreadable as comma-separated '
                             f'text: {err}') from err
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f'point cloud file {path} does not exist') from None
    except Exception as err:
        raise ValueError(f'point cloud file {path} is unreadable as .npy: {err}') from err


@TRANSFORMS.register_module()
class LoadPointCloudNpy(BaseTransform):
    """Reads ``results['pc_path']`` into ``results['points']``: an (N, >=3) ``.npy`` array or a
    ``.txt`` file of comma-separated rows (the ModelNet40 ``x,y,z,nx,ny,nz`` files; the name
    stays for existing configs).

    Required keys: pc_path. Added keys: points (N, len(use_dims)) float32.

    Errors name the file for: a missing or unreadable file, an empty array, a wrong shape and
    NaN / infinite values.

    Args:
        use_dims: columns to keep (xyz by default; (0, 1, 2, 3, 4, 5) keeps ModelNet normals).
    """

    def __init__(self, use_dims: Sequence[int] = (0, 1, 2)) -> None:
        self.use_dims = list(use_dims)

    def transform(self, results: dict) -> dict:
        path = results['pc_path']
        points = _read_cloud(path)
        if points.size == 0:
            raise ValueError(f'point cloud file {path} is empty')
        if points.ndim != 2 or points.shape[1] <= max(self.use_dims):
            raise ValueError(f'point cloud file {path} has shape {points.shape}; expected '
                             f'(N, C) with C > {max(self.use_dims)}')
        points = np.ascontiguousarray(points[:, self.use_dims], dtype=np.float32)
        if not np.isfinite(points).all():
            bad = int((~np.isfinite(points)).any(axis=1).sum())
            raise ValueError(f'point cloud file {path} has {bad} points with NaN or infinite '
                             f'coordinates')
        results['points'] = points
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(use_dims={self.use_dims})'
