"""The original 3DETR encoder: a PointNet++ set-abstraction pre-encoder and a 3-layer
transformer, the from-scratch baseline beside the pre-trained point-patch encoders."""
from typing import Dict, Optional, Sequence, Union

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS
from pt3kd_mm.ops import ball_query, farthest_point_sample, gather_points

from .layers import PreNormEncoderLayer, xavier_init_matrices


class SetAbstraction(nn.Module):
    """PointNet++ set abstraction with pointnet2 semantics: FPS centres, ball query (first
    ``num_samples`` points in index order within ``radius``), neighbours' offsets divided by the
    radius (``normalize_xyz``), shared MLP of 1x1 Conv2d + BN + ReLU, max-pool.

    Args:
        num_points: centres sampled by FPS.
        radius / num_samples: the ball query.
        channels: MLP widths, the first being the input width (3 for xyz only).
        point_ops_backend: backend of FPS and ball query ('auto', 'numba', 'torch', 'mmcv').
    """

    def __init__(self, num_points: int = 2048, radius: float = 0.2, num_samples: int = 64,
                 channels: Sequence[int] = (3, 64, 128, 256),
                 point_ops_backend: str = 'auto') -> None:
        super().__init__()
        self.num_points, self.radius, self.num_samples = num_points, radius, num_samples
        self.point_ops_backend = point_ops_backend
        self.mlp = nn.Sequential(*[
            ConvModule(cin, cout, 1, norm_cfg=dict(type='BN2d'), act_cfg=dict(type='ReLU'))
            for cin, cout in zip(channels[:-1], channels[1:])
        ])

    def forward(self, xyz: Tensor) -> Dict[str, Tensor]:
        """xyz (B, N, 3) -> centres (B, M, 3), features (B, C, M), centre indices (B, M)."""
        center_idx = farthest_point_sample(xyz, self.num_points,
                                           self.point_ops_backend).to(xyz.device)
        centers = gather_points(xyz, center_idx)
        idx = ball_query(xyz, centers, self.radius, self.num_samples,
                         self.point_ops_backend).to(xyz.device)
        grouped = (gather_points(xyz, idx) - centers.unsqueeze(2)) / self.radius  # B, M, K, 3
        feats = self.mlp(grouped.permute(0, 3, 1, 2).contiguous())  # B, C, M, K
        return dict(centers=centers, features=feats.max(dim=-1).values,
                    center_indices=center_idx)


@MODELS.register_module()
class ThreeDETREncoder(BaseModule):
    """3DETR's encoder: set abstraction (2048 centres, radius 0.2, 64 samples, MLP
    3-64-128-256) then ``depth`` pre-norm transformer layers without position embedding
    (``enc_type='vanilla'`` of the reference), no final norm.

    Follows the point-encoder contract of pt3kd_mm's backbones: ``forward(points)`` returns
    ``tokens`` (B, M, C) and their ``centers`` (B, M, 3) (plus ``center_indices``).
    """

    def __init__(self,
                 num_points: int = 2048,
                 radius: float = 0.2,
                 num_samples: int = 64,
                 embed_dims: int = 256,
                 depth: int = 3,
                 num_heads: int = 4,
                 ffn_dims: int = 128,
                 dropout: float = 0.1,
                 point_ops_backend: str = 'auto',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_points = num_points
        self.pre_encoder = SetAbstraction(num_points, radius, num_samples,
                                          (3, 64, 128, embed_dims), point_ops_backend)
        self.layers = nn.ModuleList(
            PreNormEncoderLayer(embed_dims, num_heads, ffn_dims, dropout) for _ in range(depth))

    def init_weights(self) -> None:
        """Kaiming-normal set-abstraction convs, Xavier-uniform transformer matrices (as the
        reference); a ``Pretrained`` init_cfg then overwrites them."""
        for module in self.pre_encoder.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
        xavier_init_matrices(self.layers)
        super().init_weights()

    def forward(self, points: Tensor) -> Dict[str, Tensor]:
        """points (B, N, 3+) (only xyz used) -> dict(tokens (B, M, C), centers (B, M, 3),
        center_indices (B, M))."""
        if points.dim() != 3 or points.shape[-1] < 3:
            raise ValueError(f'ThreeDETREncoder expects points (B, N, 3+), '
                             f'got {tuple(points.shape)}')
        if points.shape[1] < self.num_points:
            raise ValueError(f'ThreeDETREncoder: a scene of {points.shape[1]} points cannot '
                             f'give {self.num_points} set-abstraction centres; sample at least '
                             f'{self.num_points} points (PointSample) or lower num_points')
        pre = self.pre_encoder(points[..., :3].contiguous())
        x = pre['features'].transpose(1, 2)
        for layer in self.layers:
            x = layer(x)
        return dict(tokens=x, centers=pre['centers'], center_indices=pre['center_indices'])
