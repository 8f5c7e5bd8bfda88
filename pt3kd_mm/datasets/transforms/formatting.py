"""Packing object clouds and their class labels for classifiers (mmpretrain's data samples)."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.structures import DataSample

from mmdet3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackPointClsInputs(BaseTransform):
    """``results['points']`` (N, C) -> ``inputs=dict(points=(N, C) float tensor)`` and an
    mmpretrain ``DataSample`` whose ``gt_label`` is ``results[label_key]``, so mmpretrain's
    heads and ``Accuracy`` read it. (mmpretrain's ``PackInputs`` would transpose the (N, C)
    array as an image; mmdet3d's ``Pack3DDetInputs`` packs detection samples.)

    Args:
        label_key: the results key of the class index ('category' in our datasets).
        meta_keys: results keys copied into the sample's metainfo when present.
    """

    def __init__(self, label_key: str = 'category',
                 meta_keys: Sequence[str] = ('sample_idx', 'pc_path', 'category_name',
                                             'shape_id')) -> None:
        self.label_key = label_key
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if 'points' not in results:
            raise KeyError('PackPointClsInputs needs results["points"]; load the cloud first '
                           '(LoadPointCloudNpy, or a dataset that holds the clouds)')
        if self.label_key not in results:
            raise KeyError(f'PackPointClsInputs: results has no label {self.label_key!r} (keys: '
                           f'{sorted(results)}); set label_key')
        points = torch.from_numpy(np.ascontiguousarray(results['points'], dtype=np.float32))
        sample = DataSample().set_gt_label(int(results[self.label_key]))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=dict(points=points), data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(label_key={self.label_key!r})'
