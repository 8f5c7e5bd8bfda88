"""3DETR's box parametrisation: centres as offsets from the query point, sizes as fractions
of the scene's extent, heading as one of ``num_angle_bins`` classes plus a residual."""
import math
from typing import Dict, Tuple

import torch
from torch import Tensor

from mmdet3d.registry import TASK_UTILS

from .layers import normalize_to_range


@TASK_UTILS.register_module()
class ThreeDETRBBoxCoder:
    """Encode ground-truth boxes into 3DETR's regression targets and decode head outputs.

    Conventions (facebookresearch/3detr ``BoxProcessor`` and ``angle2class``):
      * centre = query xyz + (sigmoid(raw) - 0.5); its target is the gravity centre mapped to
        [0, 1] by the scene's min / max point coordinates;
      * size = sigmoid(raw) x scene extent (the extent clamped to >= 0.1 m); target = size /
        extent;
      * heading bins of width 2 pi / N centred on k 2 pi / N; residual in [-pi / N, pi / N),
        regressed normalised by pi / N. With N = 1 the heading is 0 (the reference's
        "no rotation" case for ScanNet).

    Args:
        num_angle_bins: N.
    """

    def __init__(self, num_angle_bins: int = 12) -> None:
        if num_angle_bins < 1:
            raise ValueError(f'num_angle_bins must be >= 1, got {num_angle_bins}')
        self.num_angle_bins = num_angle_bins

    @property
    def angle_per_bin(self) -> float:
        return 2 * math.pi / self.num_angle_bins

    @property
    def residual_scale(self) -> float:
        """The residual's normaliser pi / N."""
        return math.pi / self.num_angle_bins

    def angle_to_class(self, angle: Tensor) -> Tuple[Tensor, Tensor]:
        """Heading (any range) -> bin (long) and residual (radians) with
        ``class_to_angle(bin, residual) == angle`` modulo 2 pi."""
        width = self.angle_per_bin
        shifted = torch.remainder(torch.remainder(angle, 2 * math.pi) + width / 2, 2 * math.pi)
        cls = torch.div(shifted, width, rounding_mode='floor').long().clamp_(
            0, self.num_angle_bins - 1)
        residual = shifted - (cls.to(angle.dtype) * width + width / 2)
        return cls, residual

    def class_to_angle(self, cls: Tensor, residual: Tensor) -> Tensor:
        """Bin + residual -> heading in (-pi, pi]."""
        angle = cls.to(residual.dtype) * self.angle_per_bin + residual
        return torch.where(angle > math.pi, angle - 2 * math.pi, angle)

    def encode(self, centers: Tensor, sizes: Tensor, yaws: Tensor, xyz_min: Tensor,
               xyz_max: Tensor) -> Dict[str, Tensor]:
        """Targets of one scene's M boxes.

        Args:
            centers / sizes: (M, 3) gravity centres and (dx, dy, dz); yaws: (M, ).
            xyz_min / xyz_max: (3, ) the scene's point extent.

        Returns:
            dict of ``center_normalized`` (M, 3), ``size_normalized`` (M, 3),
            ``angle_class`` (M, ) long and ``angle_residual_normalized`` (M, ).
        """
        extent = (xyz_max - xyz_min).clamp(min=0.1)
        cls, residual = self.angle_to_class(yaws)
        return dict(
            center_normalized=normalize_to_range(centers[None], xyz_min[None],
                                                 xyz_max[None])[0],
            size_normalized=sizes / extent,
            angle_class=cls,
            angle_residual_normalized=residual / self.residual_scale)

    def decode(self, center_raw: Tensor, size_raw: Tensor, angle_logits: Tensor,
               angle_residual_raw: Tensor, query_xyz: Tensor, xyz_min: Tensor,
               xyz_max: Tensor) -> Dict[str, Tensor]:
        """Head outputs of a batch -> boxes.

        Args:
            center_raw / size_raw: (B, Q, 3) raw head outputs; angle_logits /
                angle_residual_raw: (B, Q, N); query_xyz: (B, Q, 3); xyz_min / xyz_max: (B, 3).

        Returns:
            dict of ``center`` (B, Q, 3) metric gravity centres, ``center_normalized``,
            ``size_normalized`` (B, Q, 3), ``size`` (B, Q, 3) metres, ``angle`` (B, Q) and
            ``angle_residual_normalized`` (B, Q, N) (the raw residual output).
        """
        center = query_xyz + (center_raw.sigmoid() - 0.5)
        size_normalized = size_raw.sigmoid()
        extent = (xyz_max - xyz_min).clamp(min=0.1)
        if self.num_angle_bins == 1:
            # keep the outputs in the graph (DDP) while the heading stays 0, as the reference
            angle = (angle_logits * 0 + angle_residual_raw * 0).squeeze(-1).clamp(min=0)
        else:
            cls = angle_logits.argmax(dim=-1).detach()
            residual = angle_residual_raw.gather(-1, cls.unsqueeze(-1)).squeeze(-1)
            angle = self.class_to_angle(cls, residual * self.residual_scale)
        return dict(
            center=center,
            center_normalized=normalize_to_range(center, xyz_min, xyz_max),
            size_normalized=size_normalized,
            size=size_normalized * extent[:, None],
            angle=angle,
            angle_residual_normalized=angle_residual_raw)


def aligned_extents(centers: Tensor, sizes: Tensor, yaws: Tensor) -> Tensor:
    """The axis-aligned box enclosing each (possibly rotated about z) box, as
    (..., 6) = (x1, y1, z1, x2, y2, z2); differentiable."""
    cos, sin = yaws.cos().abs(), yaws.sin().abs()
    half_x = (cos * sizes[..., 0] + sin * sizes[..., 1]) / 2
    half_y = (sin * sizes[..., 0] + cos * sizes[..., 1]) / 2
    half = torch.stack([half_x, half_y, sizes[..., 2] / 2], dim=-1)
    return torch.cat([centers - half, centers + half], dim=-1)
