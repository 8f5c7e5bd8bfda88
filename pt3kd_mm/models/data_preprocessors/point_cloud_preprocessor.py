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
    images as ``Pack3DDetInputs(keys=['points', 'img'])`` packs them: RGB in 0-255, not
    normalised, since every image teacher normalises its input with its own mean / std) into a
    (B, 3, H, W) float tensor; ``data_samples`` pass through.

    Args:
        num_channels: keep only the first ``num_channels`` channels (3 = xyz), or all if None.
    """

    def __init__(self, num_channels: Optional[int] = 3) -> None:
        super().__init__()
        self.num_channels = num_channels

    @staticmethod
    def stack(items: Union[Tensor, Sequence], what: str, dims: str, hint: str) -> Tensor:
        """A list of equally shaped arrays / tensors (or one batched tensor) -> one float
        tensor of ``len(dims)`` dimensions; errors name ``what`` and how to fix it."""
        if isinstance(items, (list, tuple)):
            items = [i if torch.is_tensor(i) else torch.as_tensor(np.asarray(i)) for i in items]
            sizes = {tuple(i.shape) for i in items}
            if len(sizes) != 1:
                raise ValueError(f'{what} of one batch must have the same shape to be stacked, '
                                 f'got {sorted(sizes)}; {hint}')
            items = torch.stack(items)
        if items.dim() != len(dims.split(',')):
            raise ValueError(f'{what} must batch to ({dims}), got {tuple(items.shape)}')
        return items.float()

    @classmethod
    def stack_images(cls, imgs: Union[Tensor, Sequence]) -> Tensor:
        """list of (3, H, W) arrays / tensors, or a (B, 3, H, W) tensor -> (B, 3, H, W) float."""
        return cls.stack(imgs, 'images', 'B, C, H, W', 'resize / crop them to one size in the '
                         'pipeline (e.g. RandomResizedCrop or CenterCrop)')

    def forward(self, data: dict, training: bool = False) -> Dict:
        """data: {'inputs': {'points': list of (N, C) or a (B, N, C) tensor, optional 'img':
        list of (3, H, W) or a (B, 3, H, W) tensor}, 'data_samples'} -> the same with points as
        one (B, N, num_channels) float tensor (and img as one (B, 3, H, W) float tensor) on the
        device."""
        inputs = data['inputs']
        if 'points' not in inputs:
            raise KeyError("PointCloudPreprocessor expects data['inputs']['points']; pack it "
                           "with Pack3DDetInputs(keys=['points'])")
        points = self.stack(inputs['points'], 'point clouds', 'B, N, C',
                            'sample a fixed number of points in the pipeline (PointSubsample)')
        if self.num_channels is not None:
            points = points[..., :self.num_channels]
        inputs = dict(inputs, points=points)
        if inputs.get('img') is not None:
            inputs['img'] = self.stack_images(inputs['img'])
        return self.cast_data(dict(inputs=inputs, data_samples=data.get('data_samples')))
