"""Per-point semantic logits from the multi-level group tokens of a point-patch encoder."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
from mmdet3d.registry import MODELS

from ..layers.feature_propagation import CenterFeaturePropagation


@MODELS.register_module()
class PointSceneSegHead(Base3DDecodeHead):
    """Scene segmentation head (the part-segmentation head of the Point-MAE lineage without the
    category embedding), under mmdet3d's ``Base3DDecodeHead`` contract (its loss, ignore index
    and classifier).

    With F = the group tokens of the encoder's ``out_indices`` blocks concatenated
    (B, in_channels, G):

    * F interpolated at every point from its 3 nearest group centres (inverse squared distance,
      ``CenterFeaturePropagation``), after the point's first ``skip_channels`` input channels
      (xyz + rgb: 6), through 1x1 Conv1d + BN + ReLU of ``fp_channels``;
    * with ``with_global_feature``, the max and mean of F over the groups, repeated at every
      point;
    * 1x1 ConvModules of ``mlp_channels`` -> dropout -> Conv1d ``num_classes``.

    The linear probe is the same class with nothing learnt before the classifier:
    ``skip_channels=0, fp_channels=(), with_global_feature=False, mlp_channels=(),
    dropout_ratio=0`` gives logits = W * interpolate(F) + b.

    Args:
        in_channels: channels of F (``PointSceneSegmentor`` sets it from its backbone).
        num_classes: semantic classes (20 for ScanNet).
        skip_channels: leading input channels of each point concatenated before the
            interpolated features (0: none).
        fp_channels: widths of the feature-propagation Conv1d layers.
        with_global_feature: concatenate max and mean of F over the groups.
        mlp_channels: widths of the ConvModules between propagation and classifier; the last
            one is the classifier's input.
        dropout_ratio, conv_cfg, norm_cfg, act_cfg, loss_decode, ignore_index, init_cfg: as
            ``Base3DDecodeHead``.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 skip_channels: int = 6,
                 fp_channels: Sequence[int] = (1536, 1024),
                 with_global_feature: bool = True,
                 mlp_channels: Sequence[int] = (512, 256),
                 dropout_ratio: float = 0.5,
                 conv_cfg: dict = dict(type='Conv1d'),
                 norm_cfg: dict = dict(type='BN1d'),
                 act_cfg: dict = dict(type='ReLU'),
                 loss_decode: Optional[dict] = None,
                 ignore_index: int = 255,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if skip_channels < 0:
            raise ValueError(f'skip_channels must be >= 0, got {skip_channels}')
        propagation = CenterFeaturePropagation(skip_channels + in_channels, fp_channels)
        width = propagation.out_channels + (2 * in_channels if with_global_feature else 0)
        mlp_channels = tuple(mlp_channels)
        if loss_decode is None:
            loss_decode = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                               class_weight=None, loss_weight=1.0)
        super().__init__(
            channels=mlp_channels[-1] if mlp_channels else width,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            loss_decode=loss_decode,
            ignore_index=ignore_index,
            init_cfg=init_cfg)
        self.in_channels = in_channels
        self.skip_channels = skip_channels
        self.with_global_feature = with_global_feature
        self.propagation = propagation
        layers = []
        for out in mlp_channels:
            layers.append(ConvModule(width, out, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg))
            width = out
        self.mlp = nn.Sequential(*layers)

    def forward(self, feats_dict: dict) -> Tensor:
        """feats_dict from ``PointSceneSegmentor.extract_feat``: ``points`` (B, N, 3 + C) the
        input points, ``centers`` (B, G, 3), ``multi_level_tokens`` L tensors (B, G, C')
        -> logits (B, num_classes, N)."""
        points = feats_dict['points']
        features = torch.cat(feats_dict['multi_level_tokens'], dim=-1).transpose(1, 2)
        if features.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__}: in_channels={self.in_channels} but the '
                             f'encoder gives {features.shape[1]} channels')
        if points.shape[-1] < max(self.skip_channels, 3):
            raise ValueError(f'{type(self).__name__}: skip_channels={self.skip_channels} but '
                             f'the points have {points.shape[-1]} channels')
        skip = points[..., :self.skip_channels].transpose(1, 2).contiguous() \
            if self.skip_channels else None
        x = self.propagation(points[..., :3].contiguous(), feats_dict['centers'], skip, features)
        if self.with_global_feature:
            num_points = x.shape[-1]
            x = torch.cat([
                x,
                features.max(dim=-1, keepdim=True)[0].expand(-1, -1, num_points),
                features.mean(dim=-1, keepdim=True).expand(-1, -1, num_points)
            ], dim=1)
        return self.cls_seg(self.mlp(x))
