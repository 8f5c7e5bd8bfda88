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


#: the most channels a cloud is taken to have: a (C, N) array with C <= this < N is reported
#: as transposed
MAX_CLOUD_CHANNELS = 16


def check_cloud_array(points: np.ndarray, path: str, use_dims: Sequence[int]) -> np.ndarray:
    """Refuse what cannot be an (N, C) cloud before it is cast to float32; returns ``points``.

    Args:
        points: the array as read from the file (any dtype).
        path: the file, named by every error.
        use_dims: the columns that will be kept (their values are checked).

    Raises:
        ValueError: naming ``path`` for an empty array; a dtype that is not real numbers
            (bool, complex, strings, records: a cast would silently turn them into coordinates);
            a shape that is not (N, C) with C > max(use_dims), recognising a transposed
            (C, N) array; NaN / infinite values; finite values beyond the float32 range (the
            cast would make them infinite).
    """
    points = np.asarray(points)
    if points.dtype.kind not in 'iuf':
        raise ValueError(f'point cloud file {path} holds {points.dtype} values; expected real '
                         f'numbers (float or integer coordinates): re-save it as '
                         f'points.astype(np.float32)')
    if points.size == 0:
        raise ValueError(f'point cloud file {path} is empty')
    need = max(use_dims)
    if points.ndim == 2 and need < points.shape[0] <= MAX_CLOUD_CHANNELS < points.shape[1]:
        c = points.shape[0]
        raise ValueError(f'point cloud file {path} has shape {points.shape}, which looks '
                         f'transposed: ({c}, N); expected (N, {c}) (save points.T)')
    if points.ndim != 2 or points.shape[1] <= need:
        raise ValueError(f'point cloud file {path} has shape {points.shape}; expected '
                         f'(N, C) with C > {need}')
    used = points[:, list(use_dims)]
    finite = np.isfinite(used)
    if not finite.all():
        bad = int((~finite).any(axis=1).sum())
        raise ValueError(f'point cloud file {path} has {bad} points with NaN or infinite '
                         f'coordinates')
    if used.dtype.kind == 'f' and used.dtype.itemsize > 4:
        peak = float(np.abs(used).max())
        if peak > np.finfo(np.float32).max:
            raise ValueError(f'point cloud file {path} has values beyond the float32 range '
                             f'(max |x| = {peak:.3g}); rescale the cloud (the pipeline '
                             f'computes in float32)')
    return points


@TRANSFORMS.register_module()
class LoadPointCloudNpy(BaseTransform):
    """Reads ``results['pc_path']`` into ``results['points']``: an (N, >=3) ``.npy`` array or a
    ``.txt`` file of comma-separated rows (the ModelNet40 ``x,y,z,nx,ny,nz`` files; the name
    stays for existing configs).

    Required keys: pc_path. Added keys: points (N, len(use_dims)) float32.

    Errors name the file for: a missing or unreadable file, an empty array, a wrong or
    transposed shape, a non-real dtype (bool, complex, strings), NaN / infinite values and
    values beyond the float32 range (see ``check_cloud_array``).

    Args:
        use_dims: columns to keep (xyz by default; (0, 1, 2, 3, 4, 5) keeps ModelNet normals).
    """

    def __init__(self, use_dims: Sequence[int] = (0, 1, 2)) -> None:
        self.use_dims = list(use_dims)

    def transform(self, results: dict) -> dict:
        path = results['pc_path']
        points = check_cloud_array(_read_cloud(path), path, self.use_dims)
        results['points'] = np.ascontiguousarray(points[:, self.use_dims], dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(use_dims={self.use_dims})'
