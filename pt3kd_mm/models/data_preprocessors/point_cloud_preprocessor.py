"""Batches equally sized point clouds into one tensor."""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mmdet3d.registry import MODELS


@MODELS.register_module()
class PointCloudPreprocessor(BaseDataPreprocessor):
    """Stacks ``inputs['points']`` (a list of (N, C) arrays / tensors) into a (B, N, C) float
    tensor on the model's device and, when present, ``inputs['img']`` (a list of (3, H, W)
    images as ``Pack3DDetInputs(keys=['points', 'img'])`` packs them, already normalised in the
    pipeline) into a (B, 3, H, W) float tensor; ``data_samples`` pass through.

    Args:
        num_channels: keep only the first ``num_channels`` channels (3 = xyz), or all if None.
    """

    def __init__(self, num_channels: Optional[int] = 3) -> None:
        super().__init__()
        self.num_channels = num_channels

    @staticmethod
    def stack_images(imgs: Union[Tensor, Sequence]) -> Tensor:
        """list of (3, H, W) arrays / tensors, or a (B, 3, H, W) tensor -> (B, 3, H, W) float."""
        if isinstance(imgs, (list, tuple)):
            imgs = [i if torch.is_tensor(i) else torch.as_tensor(np.asarray(i)) for i in imgs]
            sizes = {tuple(i.shape) for i in imgs}
            if len(sizes) != 1:
                raise ValueError(f'images of one batch must have the same shape to be stacked, '
                                 f'got {sorted(sizes)}; resize / crop them to one size in the '
                                 f'pipeline (e.g. RandomResizedCrop or CenterCrop)')
            imgs = torch.stack(imgs)
        if imgs.dim() != 4:
            raise ValueError(f'images must batch to (B, C, H, W), got {tuple(imgs.shape)}')
        return imgs.float()

    def forward(self, data: dict, training: bool = False) -> Dict:
        """data: {'inputs': {'points': list of (N, C) or a (B, N, C) tensor, optional 'img':
        list of (3, H, W) or a (B, 3, H, W) tensor}, 'data_samples'} -> the same with points as
        one (B, N, num_channels) float tensor (and img as one (B, 3, H, W) float tensor) on the
        device."""
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
        if inputs.get('img') is not None:
            inputs['img'] = self.stack_images(inputs['img'])
        return self.cast_data(dict(inputs=inputs, data_samples=data.get('data_samples')))
