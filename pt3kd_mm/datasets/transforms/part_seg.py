"""Loading ShapeNetPart shapes (points + per-point part labels)."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadShapeNetPartPoints(BaseTransform):
    """Read ``results['pc_path']``: whitespace-separated rows ``x y z nx ny nz part_label``.

    Args:
        use_normals: keep the normals as channels 3..5 (the reference's ``--normal``; its
            default, and the reported results, use xyz only).

    Added keys: ``points`` (N, 3) or (N, 6) float32, ``pts_semantic_mask`` (N,) int64 part
    labels. Labels outside ``results['parts']`` (the category's parts, set by
    ``ShapeNetPartDataset``) are an error naming the file.
    """

    def __init__(self, use_normals: bool = False) -> None:
        self.use_normals = use_normals

    def transform(self, results: dict) -> dict:
        path = results['pc_path']
        data = np.loadtxt(path, dtype=np.float32, ndmin=2)
        if data.shape[1] != 7 or data.shape[0] == 0:
            raise ValueError(f'{path}: expected rows of 7 values "x y z nx ny nz part_label", '
                             f'got an array of shape {data.shape}')
        labels = data[:, 6].astype(np.int64)
        parts = results.get('parts')
        if parts is not None:
            outside = np.setdiff1d(np.unique(labels), np.asarray(parts))
            if outside.size:
                raise ValueError(f'{path}: part labels {outside.tolist()} are not parts of '
                                 f'{results.get("category_name", "its category")} '
                                 f'({list(parts)})')
        results['points'] = np.ascontiguousarray(data[:, :6 if self.use_normals else 3])
        results['pts_semantic_mask'] = labels
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(use_normals={self.use_normals})'
