"""The part-segmentation head of Point-MAE / ACT / ReCon (``segmentation/models/pt.py``)."""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.feature_propagation import CenterFeaturePropagation


@MODELS.register_module()
class PointPartSegHead(BaseModule):
    """Per-point part logits from multi-level group tokens.

    With F = the group features (B, in_channels, G) (blocks 4, 8, 12 concatenated: 3 x 384):

    * global feature: max and mean of F over the groups, [the max over the global queries
      (ReCon, ``query_channels``)], the category one-hot through Conv1d(num_categories -> 64,
      no bias) + BN + LeakyReLU(0.2); repeated at every point;
    * per-point feature: F interpolated from the 3 nearest group centres (inverse squared
      distance), concatenated after the xyz, through Conv1d + BN + ReLU of ``fp_channels``
      (1536, 1024);
    * [per-point, global] -> Conv1d 512 + BN + ReLU -> Dropout(0.5) -> Conv1d 256 + BN + ReLU
      -> Conv1d num_parts.

    Args:
        in_channels: channels of F (``PointPartSegmentor`` sets it from its backbone).
        num_categories: object categories (16).
        num_parts: part labels over all categories (50).
        query_channels: width of the global-query feature (0: none; ReCon: embed_dims).
        label_channels: width of the category embedding (64).
        fp_channels: widths of the feature-propagation layers.
        channels: widths of the two hidden Conv1d layers of the classifier.
        dropout_ratio: dropout after the first of them.
        loss_decode: the per-point loss; None: mmdet's CrossEntropyLoss averaged over all
            points (the reference's log_softmax + nll_loss).
        init_cfg: None leaves PyTorch's default initialisation (Point-MAE, ReCon); ACT
            initialises Conv1d / Linear with a truncated normal of std 0.02.

    Parameter names keep 'conv' exactly where the reference's do (``label_conv`` incl. its
    BN, ``propagation.mlp_convs``, ``conv1`` ..., not ``propagation.mlp_bns`` / ``bn1``), so
    ReCon's 10x learning rate of "'conv' in name" head parameters is a ``custom_keys`` entry.
    """

    def __init__(self,
                 in_channels: int,
                 num_categories: int = 16,
                 num_parts: int = 50,
                 query_channels: int = 0,
                 label_channels: int = 64,
                 fp_channels: Sequence[int] = (1536, 1024),
                 channels: Sequence[int] = (512, 256),
                 dropout_ratio: float = 0.5,
                 loss_decode: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(channels) != 2:
            raise ValueError(f'channels must give the 2 hidden widths, got {channels}')
        self.in_channels = in_channels
        self.num_categories = num_categories
        self.num_parts = num_parts
        self.query_channels = query_channels
        self.label_conv = nn.Sequential(
            nn.Conv1d(num_categories, label_channels, 1, bias=False),
            nn.BatchNorm1d(label_channels), nn.LeakyReLU(0.2))
        self.propagation = CenterFeaturePropagation(3 + in_channels, fp_channels)
        cat_channels = (self.propagation.out_channels + 2 * in_channels + query_channels +
                        label_channels)
        self.conv1 = nn.Conv1d(cat_channels, channels[0], 1)
        self.bn1 = nn.BatchNorm1d(channels[0])
        self.dropout = nn.Dropout(dropout_ratio)
        self.conv2 = nn.Conv1d(channels[0], channels[1], 1)
        self.bn2 = nn.BatchNorm1d(channels[1])
        self.conv_seg = nn.Conv1d(channels[1], num_parts, 1)
        if loss_decode is None:
            loss_decode = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
        self.loss_decode = MODELS.build(loss_decode)

    def forward(self, xyz: Tensor, centers: Tensor, group_features: Tensor,
                category_one_hot: Tensor, query_feature: Optional[Tensor] = None) -> Tensor:
        """Per-point logits.

        Args:
            xyz: (B, N, 3) points; centers: (B, G, 3) group centres.
            group_features: (B, in_channels, G).
            category_one_hot: (B, num_categories).
            query_feature: (B, query_channels) when ``query_channels``.

        Returns:
            (B, num_parts, N) logits.
        """
        if (query_feature is None) != (self.query_channels == 0):
            state = 'missing' if query_feature is None else 'given'
            raise ValueError(f'{type(self).__name__}: query_channels={self.query_channels} '
                             f'but query_feature is {state}')
        num_points = xyz.shape[1]
        globals_ = [group_features.max(dim=2)[0], group_features.mean(dim=2)]
        if query_feature is not None:
            globals_.append(query_feature)
        globals_.append(self.label_conv(category_one_hot.unsqueeze(-1)).squeeze(-1))
        global_feature = torch.cat(globals_, dim=1).unsqueeze(-1).expand(-1, -1, num_points)
        point_feature = self.propagation(xyz, centers, xyz.transpose(1, 2), group_features)
        x = torch.cat([point_feature, global_feature], dim=1)
        x = self.dropout(torch.relu(self.bn1(self.conv1(x))))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.conv_seg(x)

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """logits (B, num_parts, N), labels (B, N) -> the loss averaged over all points."""
        return self.loss_decode(logits.transpose(1, 2).reshape(-1, self.num_parts),
                                labels.reshape(-1))
