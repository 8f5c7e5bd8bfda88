"""Transforms of (point cloud, image) frame pairs (``ScanNetFramePairDataset``): load the colour
image, resize + centre-crop it as CLIP does while keeping the depth -> image mapping
``results['depth2img']`` right, project the points into the cropped image, centre the cloud.

Pixel convention (OpenCV / ScanNet calibration): pixel ``(i, j)`` has its centre at integer
coordinates ``x = i, y = j`` and covers ``[i - 0.5, i + 0.5)``. ``depth2img`` (4, 4) maps
homogeneous depth-camera points (x, y, z, 1) to ``(x_px z_c, y_px z_c, z_c, 1)``.
"""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

from .image_text import LoadRenderedImage

_LAYOUT = ('frame images are expected at <data_root>/frames/<scene>/<scene>_<frame:06d>.jpg as '
           'tools/dataset_converters/scannet_frames.py writes them')


def _require(results: dict, key: str, transform: str, hint: str) -> None:
    if key not in results:
        raise KeyError(f'{transform} needs results[{key!r}] ({hint}); keys: {sorted(results)}')


@TRANSFORMS.register_module()
class LoadFrameImage(LoadRenderedImage):
    """``LoadRenderedImage`` for a pair's colour image ``results['img_path']`` (RGB by default;
    a missing or undecodable file is an error naming it and the converter's layout), which
    also checks the decoded size against the pair info's ``img_shape``: ``depth2img`` is only
    valid for that size.

    Required keys: img_path (and, when present, img_shape). Added / updated keys: img
    (H, W, 3) uint8, img_shape and ori_shape ((H, W)).

    Args:
        to_rgb: RGB (True, what the image teachers expect) or OpenCV's BGR.
        Others as mmcv's ``LoadImageFromFile``.
    """

    LAYOUT = _LAYOUT
    WHAT = 'frame image'

    def transform(self, results: dict) -> dict:
        expected = results.get('img_shape')
        path = results.get('img_path')
        results = super().transform(results)
        got = tuple(results['img'].shape[:2])
        if expected is not None and tuple(expected) != got:
            raise ValueError(f'frame image {path} is {got[1]}x{got[0]} but its info says '
                             f'{expected[1]}x{expected[0]} (the depth2img of the info is for '
                             f'that size); re-run the converter')
        return results


def resize_crop_matrix(scale_x: float, scale_y: float, left: int, top: int) -> np.ndarray:
    """(4, 4) matrix that takes ``depth2img`` of an image to that of the image resized by
    (scale_x, scale_y) (pixel centres: ``x' = (x + 0.5) s - 0.5``, as cv2 / PIL resize) and
    then cropped at (left, top): ``new_depth2img = matrix @ depth2img``."""
    m = np.eye(4)
    m[0, 0], m[0, 2] = scale_x, 0.5 * scale_x - 0.5 - left
    m[1, 1], m[1, 2] = scale_y, 0.5 * scale_y - 0.5 - top
    return m


@TRANSFORMS.register_module()
class ResizeCropFrameImage(BaseTransform):
    """CLIP's image preprocessing geometry: resize the short edge to ``size`` (bicubic; the
    long edge to ``int(size * long / short)``, as torchvision's ``Resize``), then centre-crop
    ``size`` x ``size`` (offset ``round((dim - size) / 2)``, as ``CenterCrop``), updating
    ``results['depth2img']`` so that it maps into the cropped image's pixels.

    Required keys: img (H, W, 3), depth2img (4, 4). Updated keys: img (size, size, 3),
    img_shape, depth2img (float32). Added: scale_factor ((sx, sy) of the resize), crop_offset
    ((left, top) in the resized image).

    Args:
        size: output side.
        interpolation: 'bicubic' (CLIP) or another mmcv interpolation.
        backend: mmcv resize backend; 'pillow' (default) resizes as CLIP's PIL pipeline does
            (antialiased when shrinking), 'cv2' is faster and not antialiased.
    """

    def __init__(self, size: int = 224, interpolation: str = 'bicubic',
                 backend: str = 'pillow') -> None:
        if size < 1:
            raise ValueError(f'size must be >= 1, got {size}')
        self.size = size
        self.interpolation = interpolation
        self.backend = backend

    def output_geometry(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """(resized height, resized width, crop left, crop top) of an (height, width) image."""
        if width <= height:
            new_w, new_h = self.size, int(self.size * height / width)
        else:
            new_h, new_w = self.size, int(self.size * width / height)
        left = int(round((new_w - self.size) / 2.0))
        top = int(round((new_h - self.size) / 2.0))
        return new_h, new_w, left, top

    def transform(self, results: dict) -> dict:
        _require(results, 'img', 'ResizeCropFrameImage', 'load it with LoadFrameImage')
        _require(results, 'depth2img', 'ResizeCropFrameImage',
                 'the pair info of ScanNetFramePairDataset holds it')
        img = results['img']
        h, w = img.shape[:2]
        new_h, new_w, left, top = self.output_geometry(h, w)
        img = mmcv.imresize(img, (new_w, new_h), interpolation=self.interpolation,
                            backend=self.backend)
        results['img'] = np.ascontiguousarray(img[top:top + self.size, left:left + self.size])
        sx, sy = new_w / w, new_h / h
        matrix = resize_crop_matrix(sx, sy, left, top)
        results['depth2img'] = (matrix @ np.asarray(results['depth2img'], np.float64)
                                ).astype(np.float32)
        results['img_shape'] = (self.size, self.size)
        results['scale_factor'] = (sx, sy)
        results['crop_offset'] = (left, top)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, interpolation='
                f'{self.interpolation!r}, backend={self.backend!r})')


@TRANSFORMS.register_module()
class ProjectPointsToImage(BaseTransform):
    """Where each point lands in the (cropped) image: ``points_uv`` (N, 2) float32 and
    ``points_in_image`` (N,) bool.

    A point's pixel coordinates (x, y) come from ``depth2img``; ``u = (x + 0.5) / W``,
    ``v = (y + 0.5) / H``, so [0, 1] spans the image from its left / top edge to its right /
    bottom edge (pixel i covers u in [i / W, (i + 1) / W); ``grid_sample(...,
    align_corners=False)`` takes ``2 uv - 1``). ``points_in_image``: in front of the camera and
    0 <= u, v < 1. Points outside get uv clipped into [0, 1] (mask them with
    ``points_in_image``). Run it before any augmentation of the points (they must still be in
    the depth camera frame).

    Required keys: points (N, >= 3) depth-camera xyz, depth2img (4, 4), img_shape (H, W).
    """

    def transform(self, results: dict) -> dict:
        _require(results, 'points', 'ProjectPointsToImage', 'load them first')
        _require(results, 'depth2img', 'ProjectPointsToImage',
                 'the pair info of ScanNetFramePairDataset holds it')
        _require(results, 'img_shape', 'ProjectPointsToImage', 'load the image first')
        xyz = np.asarray(results['points'], np.float64)[:, :3]
        m = np.asarray(results['depth2img'], np.float64)
        p = xyz @ m[:3, :3].T + m[:3, 3]
        h, w = results['img_shape'][:2]
        z = p[:, 2]
        front = z > 1e-6
        safe_z = np.where(front, z, 1.0)
        uv = np.stack([(p[:, 0] / safe_z + 0.5) / w, (p[:, 1] / safe_z + 0.5) / h], 1)
        inside = front & (uv >= 0).all(1) & (uv < 1).all(1)
        results['points_uv'] = np.clip(uv, 0, 1).astype(np.float32)
        results['points_in_image'] = inside
        return results


@TRANSFORMS.register_module()
class CentrePoints(BaseTransform):
    """Subtract the xyz centroid, keeping the metric scale.

    The frame clouds are metric and in the camera frame, several metres from its origin; the
    concept-distillation recipe centres them and then applies the paper's scale + translate
    augmentation (``RandomScaleTranslate``), without ``NormalizeToUnitSphere``'s rescaling, so
    that one metre means the same in every frame. Added key: ``points_centre`` (3,) (what was
    subtracted).
    """

    def transform(self, results: dict) -> dict:
        _require(results, 'points', 'CentrePoints', 'load them first')
        points = np.array(results['points'], dtype=np.float32, copy=True)
        centre = points[:, :3].mean(0)
        points[:, :3] -= centre
        results['points'] = points
        results['points_centre'] = centre
        return results
