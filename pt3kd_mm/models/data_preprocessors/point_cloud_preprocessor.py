"""Batches equally sized point clouds into one tensor."""
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor

from mmdet3d.registry import MODELS


@MODELS.register_module()
class PointCloudPreprocessor(BaseDataPreprocessor):
    """Stacks ``inputs['points']`` (a list of (N, C) arrays / tensors) into a (B, N, C) float
    tensor on the model's device; ``data_samples`` pass through.

    Args:
        num_channels: keep only the first ``num_channels`` channels (3 = xyz), or all if None.
    """

    def __init__(self, num_channels: Optional[int] = 3) -> None:
        super().__init__()
        self.num_channels = num_channels

    def forward(self, data: dict, training: bool = False) -> Dict:
        """data: {'inputs': {'points': list of (N, C) or a (B, N, C) tensor}, 'data_samples'}
        -> the same with points as one (B, N, num_channels) float tensor on the device."""
        inputs = data['inputs']
        if 'points' not in inputs:
            raise KeyError("PointCloudPreprocessor expects data['inputs']['points']; pack it "
                           "with Pack3DDetInputs(keys=['points'])")
        points = inputs['points']
        if isinstance(points, (list, tuple)):
            clouds = [p if torch.is_tensor(p) else torch.as_tensor(np.asarray(p))
                      for p in points]
            sizes = {tuple(c.shape) for c in clouds}
            if len(sizes) != 1:
                raise ValueError(f'point clouds of one batch must have the same shape to be '
                                 f'stacked, got {sorted(sizes)}; sample a fixed number of '
                                 f'points in the pipeline (PointSubsample)')
            points = torch.stack(clouds)
        if points.dim() != 3:
            raise ValueError(f'points must batch to (B, N, C), got {tuple(points.shape)}')
        if self.num_channels is not None:
            points = points[..., :self.num_channels]
        inputs = dict(inputs, points=points.float())
        return self.cast_data(dict(inputs=inputs, data_samples=data.get('data_samples')))
