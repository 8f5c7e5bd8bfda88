"""ScanNet v2 RGB-D frames -> (point cloud, image) pairs for concept distillation pre-training.

Two inputs are read:

* ScanNet's raw ``.sens`` files (``scans/<scene>/<scene>.sens``), streamed by
  :class:`~.scannet_sens.SensReader` (format and writer in :mod:`.scannet_sens`).
* The posed-images folders of mmdet3d's ``data/scannet/extract_posed_images.py``
  (``posed_images/<scene>/``, :class:`PosedImagesReader`): ``NNNNN.jpg`` colour, ``NNNNN.txt``
  4x4 camera-to-world pose and ``intrinsic.txt`` (the 4x4 colour intrinsics), 5-digit frame
  numbers. That script writes no depth: a pair needs ``NNNNN.png`` (uint16 depth, the same
  script's ``export_depth_images``, or ScanNet's SensReader ``--export_depth_images``) and
  ``intrinsic_depth.txt`` (SensReader's ``export_intrinsics`` name) beside them;
  ``extrinsic_color.txt`` / ``extrinsic_depth.txt`` are read when present (else identity).

Geometry (OpenCV pinhole conventions, pixel centres at integer coordinates):

* back-projection (:func:`backproject_depth`): depth pixel (u, v) with raw value d ->
  ``z = d / depth_shift``, ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy`` with the DEPTH
  intrinsics, in the depth camera frame (x right, y down, z forward, metres); d = 0 (no
  measurement) and, optionally, z > max_depth are dropped.
* colour (:func:`colour_points`): ``depth2img = K_color @ inv(E_color) @ E_depth``
  (:func:`depth_to_image_matrix`) maps a point to colour pixel coordinates; the point takes the
  colour of the NEAREST pixel (``round(x), round(y)``). Points that land outside the colour
  image or not in front of the colour camera are DROPPED: a pair only holds points whose colour
  was seen (ScanNet's colour and depth fields of view nearly coincide, so few are lost).

The stored pair format (:func:`convert_scan`, :func:`convert_scannet_frames`)::

    OUT/frames/<scene>/<scene>_<frame:06d>.npy   float32 (M, 6) x y z (depth camera frame,
                                                 metres) r g b (0-255); M <= points_per_frame
    OUT/frames/<scene>/<scene>_<frame:06d>.jpg   the colour JPEG, bytes copied as they are
    OUT/scannet_frames_infos_{train,val}.pkl     dict(metainfo=..., data_list=[info, ...])

with per pair ``scene_id, frame_id, pc_path, img_path (relative to OUT), num_points,
img_shape ((H, W) colour), depth2img (4x4 float32), cam2world (4x4 float32)``.
The command line is ``tools/dataset_converters/scannet_frames.py``.
"""
import json
import multiprocessing as mp
import os
import os.path as osp
import re
import time
import warnings
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import mmengine
import numpy as np
from PIL import Image

from .scannet_sens import (CorruptFrameWarning, FrameError, SensReader, SensWriter, _as_matrix,
                           decode_color, encode_jpeg, read_sens_header)

__all__ = [
    'CorruptFrameWarning', 'FrameError', 'SensReader', 'SensWriter', 'encode_jpeg',
    'read_matrix_txt', 'PosedImagesReader', 'depth_to_image_matrix', 'backproject_depth',
    'project_points', 'colour_points', 'frame_to_points', 'sample_frame_points', 'open_scan',
    'pair_relpaths', 'ScanResult', 'convert_scan', 'find_scans', 'split_scenes',
    'ScanNetFramesSummary', 'convert_scannet_frames'
]

INFO_KEYS = ('scene_id', 'frame_id', 'pc_path', 'img_path', 'num_points', 'img_shape',
             'depth2img', 'cam2world')
SPLIT_FILES = dict(train='scannetv2_train.txt', val='scannetv2_val.txt')
INFO_FILES = dict(train='scannet_frames_infos_train.pkl', val='scannet_frames_infos_val.pkl')
_OPTIONS_FILE = '.scannet_frames_options.json'


# --------------------------------------------------------------------------------------------
# mmdet3d posed-images folders
# --------------------------------------------------------------------------------------------
def read_matrix_txt(path: str) -> np.ndarray:
    """A 4x4 matrix written as 4 lines of 4 numbers (ScanNet / mmdet3d pose and intrinsic
    files) -> (4, 4) float64; errors name the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'matrix file {path} not found')
    try:
        matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f'{path} is not a 4x4 matrix of numbers: {err}') from None
    if matrix.shape != (4, 4):
        raise ValueError(f'{path} holds a {matrix.shape} matrix, expected 4x4')
    return matrix


class PosedImagesReader:
    """One ``posed_images/<scene>/`` folder of mmdet3d's ``extract_posed_images.py`` plus the
    depth it does not write::

        NNNNN.jpg  colour (5-digit frame number)   NNNNN.txt  4x4 camera-to-world pose
        NNNNN.png  uint16 depth (depth_shift units per metre; required for pairs)
        intrinsic.txt  4x4 colour intrinsics       intrinsic_depth.txt  4x4 depth intrinsics
        extrinsic_color.txt, extrinsic_depth.txt   optional (identity when absent)

    The frame ids are the integer file names; mmdet3d numbers the frames it extracted, which
    are ScanNet's frame numbers with ``--max-images-per-scene -1`` (all frames).

    Args:
        folder: the scene's folder.
        depth_shift: raw depth units per metre (ScanNet: 1000).

    Raises:
        FileNotFoundError: naming the folder / intrinsics file that is missing.
    """

    def __init__(self, folder: str, depth_shift: float = 1000.0) -> None:
        if not osp.isdir(folder):
            raise FileNotFoundError(f'posed-images folder {folder} not found')
        self.folder = folder
        self.depth_shift = float(depth_shift)
        self.intrinsic_color = read_matrix_txt(osp.join(folder, 'intrinsic.txt'))
        depth_k = osp.join(folder, 'intrinsic_depth.txt')
        if not osp.isfile(depth_k):
            raise FileNotFoundError(
                f'{depth_k} not found: mmdet3d\'s extract_posed_images.py writes only the colour '
                f'intrinsics (intrinsic.txt); the depth intrinsics (the .sens intrinsic_depth, '
                f'ScanNet SensReader\'s export_intrinsics writes intrinsic_depth.txt) are needed '
                f'to back-project depth')
        self.intrinsic_depth = read_matrix_txt(depth_k)
        self.extrinsic_color, self.extrinsic_depth = (
            read_matrix_txt(p) if osp.isfile(p) else np.eye(4)
            for p in (osp.join(folder, f'extrinsic_{k}.txt') for k in ('color', 'depth')))
        ids = [int(m.group(1)) for m in (re.fullmatch(r'(\d+)\.jpg', f)
                                         for f in os.listdir(folder)) if m]
        self.frame_ids: List[int] = sorted(ids)

    def _path(self, frame_id: int, ext: str) -> str:
        return osp.join(self.folder, f'{frame_id:05d}.{ext}')

    def color_path(self, frame_id: int) -> str:
        """The colour file of ``frame_id``."""
        return self._path(frame_id, 'jpg')

    def pose(self, frame_id: int) -> np.ndarray:
        """(4, 4) float64 camera-to-world pose of ``frame_id``."""
        return read_matrix_txt(self._path(frame_id, 'txt'))

    def read_rgbd(self, frame_id: int) -> Tuple[bytes, np.ndarray, np.ndarray]:
        """(colour file bytes, (H, W, 3) uint8 RGB, (H_d, W_d) uint16 depth) of ``frame_id``;
        :class:`FrameError` naming the file for a missing / undecodable image."""
        path = self.color_path(frame_id)
        with open(path, 'rb') as f:
            data = f.read()
        color = decode_color(data, path, frame_id)
        dpath = self._path(frame_id, 'png')
        if not osp.isfile(dpath):
            raise FrameError(dpath, frame_id, 'depth image missing (mmdet3d\'s '
                             'extract_posed_images.py does not export depth; export it with '
                             'the same NNNNN.png names)')
        depth = cv2.imread(dpath, cv2.IMREAD_UNCHANGED)
        if depth is None or depth.ndim != 2 or depth.dtype != np.uint16:
            what = 'undecodable' if depth is None else f'{depth.dtype} {depth.shape}'
            raise FrameError(dpath, frame_id, f'depth image is {what}, expected a one-channel '
                             f'uint16 PNG')
        return data, color, depth


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------
def depth_to_image_matrix(intrinsic_color: np.ndarray, extrinsic_color: Optional[np.ndarray],
                          extrinsic_depth: Optional[np.ndarray]) -> np.ndarray:
    """(4, 4) float32 ``depth2img = K_color @ inv(E_color) @ E_depth``: homogeneous depth-camera
    coordinates (x, y, z, 1) -> (x_px z_c, y_px z_c, z_c, 1) in colour pixels (``E_*``: the
    ``.sens`` camera-to-rig extrinsics; (3, 3) intrinsics are padded to 4x4)."""
    k = _as_matrix(intrinsic_color, 'intrinsic_color')
    e_c = _as_matrix(extrinsic_color, 'extrinsic_color')
    e_d = _as_matrix(extrinsic_depth, 'extrinsic_depth')
    return (k @ np.linalg.inv(e_c) @ e_d).astype(np.float32)


def backproject_depth(depth: np.ndarray, intrinsic_depth: np.ndarray,
                      depth_shift: float = 1000.0,
                      max_depth: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Depth image -> points in the depth camera frame (x right, y down, z forward, metres).

    Args:
        depth: (H_d, W_d) uint16 raw depth; 0 = no measurement.
        intrinsic_depth: (3, 3) or (4, 4) depth intrinsics (fx, fy, cx, cy; no skew).
        depth_shift: raw units per metre.
        max_depth: drop points farther than this (metres); None keeps all.

    Returns:
        xyz (N, 3) float32 with ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``,
        ``z = depth / depth_shift``, and pixels (N, 2) int64 (u = column, v = row), row-major
        over the valid pixels.
    """
    k = _as_matrix(intrinsic_depth, 'intrinsic_depth')
    if abs(k[0, 1]) > 1e-9:
        raise ValueError(f'depth intrinsics with skew ({k[0, 1]}) are not supported')
    v, u = np.nonzero(_valid_depth(depth, depth_shift, max_depth))
    return _backproject_pixels(depth, u, v, k, depth_shift), np.stack([u, v], 1).astype(np.int64)


def _valid_depth(depth: np.ndarray, depth_shift: float, max_depth: Optional[float]) -> np.ndarray:
    valid = depth > 0
    if max_depth is not None:
        valid &= depth <= max_depth * depth_shift
    return valid


def _backproject_pixels(depth: np.ndarray, u: np.ndarray, v: np.ndarray, k: np.ndarray,
                        depth_shift: float) -> np.ndarray:
    """(N, 3) float32 points of the depth pixels (u[i], v[i])."""
    fx, fy, cx, cy = (np.float32(k[i, j]) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    z = depth[v, u].astype(np.float32) / np.float32(depth_shift)
    x = (u.astype(np.float32) - cx) * z / fx
    y = (v.astype(np.float32) - cy) * z / fy
    return np.stack([x, y, z], 1)


def project_points(xyz: np.ndarray, depth2img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 3) depth-camera points -> ((N, 2) float pixel coordinates (x, y), (N,) float depth
    in the colour camera) through ``depth2img`` (4, 4)."""
    m = np.asarray(depth2img, np.float64)
    p = xyz.astype(np.float64) @ m[:3, :3].T + m[:3, 3]
    z = p[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        xy = p[:, :2] / z[:, None]
    return xy, z


def colour_points(xyz: np.ndarray, color: np.ndarray,
                  depth2img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Colour of each point: the nearest colour pixel ``(round(x), round(y))`` of its
    projection through ``depth2img``.

    Args:
        xyz: (N, 3) points in the depth camera frame.
        color: (H, W, 3) uint8 colour image.
        depth2img: (4, 4) depth camera -> colour pixels.

    Returns:
        rgb (N, 3) uint8 (0 where outside) and inside (N,) bool: in front of the colour camera
        and the nearest pixel inside the image.
    """
    h, w = color.shape[:2]
    xy, z = project_points(xyz, depth2img)
    with np.errstate(invalid='ignore'):
        col = np.floor(xy[:, 0] + 0.5)
        row = np.floor(xy[:, 1] + 0.5)
        inside = (z > 1e-6) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    rgb = np.zeros((len(xyz), 3), np.uint8)
    rgb[inside] = color[row[inside].astype(np.int64), col[inside].astype(np.int64)]
    return rgb, inside


def frame_to_points(depth: np.ndarray, color: np.ndarray, intrinsic_depth: np.ndarray,
                    depth2img: np.ndarray, depth_shift: float = 1000.0,
                    max_depth: Optional[float] = None) -> np.ndarray:
    """All valid, coloured points of an RGB-D frame: (M, 6) float32 x y z (depth camera frame,
    metres) r g b (0-255); points whose projection leaves the colour image are dropped (see
    :func:`backproject_depth`, :func:`colour_points`)."""
    xyz, _ = backproject_depth(depth, intrinsic_depth, depth_shift, max_depth)
    rgb, inside = colour_points(xyz, color, depth2img)
    return np.concatenate([xyz[inside], rgb[inside].astype(np.float32)], 1)


def sample_frame_points(depth: np.ndarray, color: np.ndarray, intrinsic_depth: np.ndarray,
                        depth2img: np.ndarray, num_points: int, rng: np.random.Generator,
                        depth_shift: float = 1000.0,
                        max_depth: Optional[float] = None) -> np.ndarray:
    """A uniform random subset of ``num_points`` (all when fewer) of the points
    :func:`frame_to_points` gives, in row-major pixel order: (M, 6) float32.

    Only as many pixels as needed are back-projected and coloured (a random permutation of
    the valid pixels is walked in chunks until ``num_points`` land in the colour image), which
    is several times faster than colouring the whole frame on ScanNet-sized depth.
    """
    k = _as_matrix(intrinsic_depth, 'intrinsic_depth')
    if abs(k[0, 1]) > 1e-9:
        raise ValueError(f'depth intrinsics with skew ({k[0, 1]}) are not supported')
    v, u = np.nonzero(_valid_depth(depth, depth_shift, max_depth))
    order = rng.permutation(len(v))
    kept, found, start = [], 0, 0
    chunk = int(1.25 * num_points) + 64
    while start < len(order) and found < num_points:
        idx = order[start:start + chunk]
        start += chunk
        chunk = len(order)  # the rest at once when the first chunk was not enough
        xyz = _backproject_pixels(depth, u[idx], v[idx], k, depth_shift)
        rgb, inside = colour_points(xyz, color, depth2img)
        kept.append((idx[inside], xyz[inside], rgb[inside]))
        found += int(inside.sum())
    if not kept:
        return np.zeros((0, 6), np.float32)
    idx, xyz, rgb = (np.concatenate(parts) for parts in zip(*kept))
    first = np.arange(min(num_points, len(idx)))  # the first ones in the random order
    pick = first[np.argsort(idx[first])]  # back to row-major pixel order
    return np.concatenate([xyz[pick], rgb[pick].astype(np.float32)], 1)


# --------------------------------------------------------------------------------------------
# one scan -> pairs
# --------------------------------------------------------------------------------------------
class _SensSource:
    """A ``.sens`` scan as the converter reads it."""

    def __init__(self, path: str, depth_shift: Optional[float] = None) -> None:
        self.reader = SensReader(path)
        h = self.reader.header
        self.path = path
        self.depth_shift = h.depth_shift if depth_shift is None else depth_shift
        self.intrinsic_color, self.intrinsic_depth = h.intrinsic_color, h.intrinsic_depth
        self.depth2img = depth_to_image_matrix(h.intrinsic_color, h.extrinsic_color,
                                               h.extrinsic_depth)
        self.frame_ids = list(range(len(self.reader)))

    def file_of(self, frame_id: int) -> str:
        return self.path

    def pose(self, frame_id: int) -> np.ndarray:
        self.reader._check(frame_id)
        return self.reader.poses[frame_id]

    def read_rgbd(self, frame_id: int) -> Tuple[bytes, np.ndarray, np.ndarray]:
        return self.reader.read_rgbd(frame_id)

    def close(self) -> None:
        self.reader.close()


class _PosedSource:
    """A posed-images folder as the converter reads it."""

    def __init__(self, folder: str, depth_shift: Optional[float] = None) -> None:
        self.reader = PosedImagesReader(folder, 1000.0 if depth_shift is None else depth_shift)
        r = self.reader
        self.depth_shift = r.depth_shift
        self.intrinsic_color, self.intrinsic_depth = r.intrinsic_color, r.intrinsic_depth
        self.depth2img = depth_to_image_matrix(r.intrinsic_color, r.extrinsic_color,
                                               r.extrinsic_depth)
        self.frame_ids = r.frame_ids

    def file_of(self, frame_id: int) -> str:
        return self.reader.color_path(frame_id)

    def pose(self, frame_id: int) -> np.ndarray:
        return self.reader.pose(frame_id)

    def read_rgbd(self, frame_id: int) -> Tuple[bytes, np.ndarray, np.ndarray]:
        return self.reader.read_rgbd(frame_id)

    def close(self) -> None:
        pass


def open_scan(path: str,
              depth_shift: Optional[float] = None) -> Union[_SensSource, _PosedSource]:
    """A scan to convert: a ``.sens`` file or a posed-images folder. ``depth_shift`` overrides
    the ``.sens`` header's (posed images: default 1000)."""
    if osp.isdir(path):
        return _PosedSource(path, depth_shift)
    return _SensSource(path, depth_shift)


def pair_relpaths(scene_id: str, frame_id: int) -> Tuple[str, str]:
    """(pc_path, img_path) of a pair relative to the output root."""
    stem = osp.join('frames', scene_id, f'{scene_id}_{frame_id:06d}')
    return f'{stem}.npy', f'{stem}.jpg'


def _write_atomic(path: str, write: Callable[[BinaryIO], None]) -> None:
    tmp = f'{path}.part'
    with open(tmp, 'wb') as f:
        write(f)
    os.replace(tmp, path)


def _subsample_seed(seed: int, scene_id: str, frame_id: int) -> List[int]:
    return [seed, zlib.crc32(scene_id.encode()), frame_id]


@dataclass
class ScanResult:
    """What :func:`convert_scan` did for one scan: the pair infos, the frames converted now /
    found done, and the skipped frames as (file, frame, reason)."""
    scene_id: str
    infos: List[dict] = field(default_factory=list)
    converted: int = 0
    reused: int = 0
    skipped: List[Tuple[str, int, str]] = field(default_factory=list)
    bad_poses: int = 0
    extrinsics_applied: bool = False  # the scan's depth -> colour extrinsic is not identity


def convert_scan(scan: str, scene_id: str, out_root: str, frame_skip: int = 25,
                 points_per_frame: int = 20000, min_points: int = 4096,
                 max_depth: Optional[float] = None, depth_shift: Optional[float] = None,
                 seed: int = 0, progress: Optional[Callable[[int], None]] = None,
                 warn: bool = True) -> ScanResult:
    """Convert the frames ``frame_id % frame_skip == 0`` of one scan into stored pairs.

    Args:
        scan: a ``.sens`` file or a posed-images folder.
        scene_id: e.g. 'scene0000_00' (names the output files).
        out_root: the output root (``frames/<scene_id>/`` is written under it).
        frame_skip: keep every ``frame_skip``-th frame (frame 0, k, 2k, ...).
        points_per_frame: at most this many points per pair: a random subsample (seeded by
            ``seed``, the scene and the frame) of the valid, coloured depth pixels.
        min_points: frames with fewer valid coloured points are skipped (reason given).
        max_depth: drop depth beyond this many metres (None: keep all).
        depth_shift: raw depth units per metre; None: the .sens header's / 1000.
        seed: subsampling seed.
        progress: called with 1 after each selected frame.
        warn: warn (:class:`CorruptFrameWarning`) for each skipped frame.

    A frame whose pair files exist is not converted again (its info is rebuilt from the
    files). A frame that cannot be read (bad JPEG, bad zlib, wrong depth size, truncated file)
    is skipped and listed in ``ScanResult.skipped`` as (file, frame, reason).
    """
    if frame_skip < 1 or points_per_frame < 1:
        raise ValueError(f'frame_skip ({frame_skip}) and points_per_frame '
                         f'({points_per_frame}) must be >= 1')
    source = open_scan(scan, depth_shift)
    result = ScanResult(scene_id)
    k_color = depth_to_image_matrix(source.intrinsic_color, None, None)
    result.extrinsics_applied = not np.allclose(source.depth2img, k_color, atol=1e-6)
    os.makedirs(osp.join(out_root, 'frames', scene_id), exist_ok=True)
    try:
        for frame_id in source.frame_ids:
            if frame_id % frame_skip:
                continue
            try:
                info = _convert_frame(source, scene_id, frame_id, out_root, points_per_frame,
                                      min_points, max_depth, seed, result)
                if info is not None:
                    result.bad_poses += int(not np.isfinite(info['cam2world']).all())
                    result.infos.append(info)
            except FrameError as err:
                result.skipped.append((err.path, err.frame, err.reason))
                if warn:
                    warnings.warn(f'skipped {err}', CorruptFrameWarning, stacklevel=2)
            if progress is not None:
                progress(1)
    finally:
        source.close()
    return result


def _convert_frame(source, scene_id: str, frame_id: int, out_root: str, points_per_frame: int,
                   min_points: int, max_depth: Optional[float], seed: int,
                   result: ScanResult) -> Optional[dict]:
    pc_rel, img_rel = pair_relpaths(scene_id, frame_id)
    pc_path, img_path = osp.join(out_root, pc_rel), osp.join(out_root, img_rel)
    pose = np.asarray(source.pose(frame_id), np.float32)
    if osp.isfile(pc_path) and osp.isfile(img_path):
        num_points = int(np.load(pc_path, mmap_mode='r').shape[0])
        with Image.open(img_path) as im:
            img_shape = (im.height, im.width)
        result.reused += 1
    else:
        data, color, depth = source.read_rgbd(frame_id)
        rng = np.random.default_rng(_subsample_seed(seed, scene_id, frame_id))
        points = sample_frame_points(depth, color, source.intrinsic_depth, source.depth2img,
                                     points_per_frame, rng, source.depth_shift, max_depth)
        if len(points) < min_points:
            raise FrameError(source.file_of(frame_id), frame_id,
                             f'{len(points)} valid coloured points, fewer than min_points '
                             f'({min_points})')
        _write_atomic(img_path, lambda f: f.write(data))
        _write_atomic(pc_path, lambda f: np.save(f, points))  # last: marks the pair done
        num_points, img_shape = len(points), tuple(color.shape[:2])
        result.converted += 1
    return dict(scene_id=scene_id, frame_id=int(frame_id), pc_path=pc_rel, img_path=img_rel,
                num_points=num_points, img_shape=tuple(int(s) for s in img_shape),
                depth2img=source.depth2img.copy(), cam2world=pose)


# --------------------------------------------------------------------------------------------
# a whole dataset
# --------------------------------------------------------------------------------------------
def find_scans(sens_root: Optional[str] = None,
               posed_images_root: Optional[str] = None) -> Dict[str, str]:
    """{scene_id: scan} of ``sens_root/<scene>/<scene>.sens`` (ScanNet's ``scans/`` layout) or
    of the folders ``posed_images_root/<scene>/`` (exactly one root must be given)."""
    if (sens_root is None) == (posed_images_root is None):
        raise ValueError('give exactly one of sens_root and posed_images_root')
    root = sens_root if sens_root is not None else posed_images_root
    if not osp.isdir(root):
        raise FileNotFoundError(f'scan root {root} not found')
    scans = {}
    for name in sorted(os.listdir(root)):
        path = osp.join(root, name)
        if not osp.isdir(path):
            continue
        if sens_root is not None:
            sens = osp.join(path, f'{name}.sens')
            if osp.isfile(sens):
                scans[name] = sens
        else:
            scans[name] = path
    if not scans:
        what = '<scene>/<scene>.sens files' if sens_root else '<scene>/ folders'
        raise FileNotFoundError(f'no scans found under {root} (expected {what})')
    return scans


def _scan_group(scene_id: str) -> str:
    """'scene0000_01' -> 'scene0000': rescans of one space stay in one split."""
    return scene_id.rsplit('_', 1)[0] if re.fullmatch(r'scene\d+_\d+', scene_id) else scene_id


def split_scenes(scenes: Sequence[str], split_dir: Optional[str] = None,
                 val_fraction: float = 0.2) -> Tuple[Dict[str, List[str]], List[str]]:
    """Scene-level train / val split of ``scenes``.

    With ``split_dir``: ScanNet's ``scannetv2_train.txt`` / ``scannetv2_val.txt`` there (the
    lists mmdet3d's preparation reads); scenes in neither list are left out. Without it: a
    deterministic split: scan groups (``sceneXXXX``, so rescans ``_00``, ``_01`` stay together)
    ordered by the CRC32 of their name, the first ``round(val_fraction * groups)`` (at least one
    when there are two groups or more and ``val_fraction > 0``) to val.

    Returns:
        {'train': [...], 'val': [...]} (sorted) and notes for the summary.

    Raises:
        FileNotFoundError: a split file missing; ValueError: a scene in both lists.
    """
    scenes = sorted(scenes)
    notes = []
    if split_dir is not None:
        lists = {}
        for split, name in SPLIT_FILES.items():
            path = osp.join(split_dir, name)
            if not osp.isfile(path):
                raise FileNotFoundError(f'split file {path} not found (ScanNet\'s '
                                        f'Tasks/Benchmark/{name}); or leave out split_dir for '
                                        f'a deterministic scene-level split')
            with open(path) as f:
                lists[split] = {ln.strip() for ln in f if ln.strip()}
        both = lists['train'] & lists['val']
        if both:
            raise ValueError(f'scenes in both {SPLIT_FILES["train"]} and {SPLIT_FILES["val"]} '
                             f'of {split_dir}: {sorted(both)[:5]}')
        out = {s: [x for x in scenes if x in lists[s]] for s in SPLIT_FILES}
        left = [x for x in scenes if x not in lists['train'] and x not in lists['val']]
        if left:
            notes.append(f'{len(left)} scans are in neither split list and were left out '
                         f'(e.g. {left[:3]})')
        missing = sum(len(lists[s]) - len(out[s]) for s in SPLIT_FILES)
        if missing:
            notes.append(f'{missing} scenes of the split lists have no scan here')
        return out, notes
    if not 0 <= val_fraction < 1:
        raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}')
    groups = sorted({_scan_group(s) for s in scenes}, key=lambda g: (zlib.crc32(g.encode()), g))
    num_val = int(round(val_fraction * len(groups)))
    if val_fraction > 0 and len(groups) >= 2:
        num_val = max(num_val, 1)
    val_groups = set(groups[:num_val])
    out = dict(train=[s for s in scenes if _scan_group(s) not in val_groups],
               val=[s for s in scenes if _scan_group(s) in val_groups])
    notes.append(f'no split lists: deterministic scene-level split, {len(val_groups)} of '
                 f'{len(groups)} scan groups to val (val_fraction={val_fraction})')
    return out, notes


@dataclass
class ScanNetFramesSummary:
    """What :func:`convert_scannet_frames` did."""
    splits: Dict[str, List[str]] = field(default_factory=dict)
    pairs: Dict[str, int] = field(default_factory=dict)
    converted: int = 0
    reused: int = 0
    skipped: List[Tuple[str, int, str]] = field(default_factory=list)
    failed_scans: Dict[str, str] = field(default_factory=dict)
    bad_poses: int = 0
    extrinsic_scans: List[str] = field(default_factory=list)
    seconds: float = 0.0
    info_files: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    max_listed: int = 50  # skipped frames listed by str()

    @property
    def frames_per_s(self) -> float:
        """Selected frames handled (converted, reused or skipped) per second."""
        done = self.converted + self.reused + len(self.skipped)
        return done / self.seconds if self.seconds > 0 else float('nan')

    def __str__(self) -> str:
        pairs = ', '.join(f'{s} {n} pairs from {len(self.splits.get(s, []))} scenes'
                          for s, n in self.pairs.items())
        lines = [f'ScanNet frame pairs: {pairs}; {self.converted} frames converted, '
                 f'{self.reused} already done, {len(self.skipped)} skipped, '
                 f'{len(self.failed_scans)} scans failed; {self.seconds:.1f} s, '
                 f'{self.frames_per_s:.1f} frames/s']
        lines += [f'  note: {n}' for n in self.notes]
        if self.extrinsic_scans:
            lines.append(f'  note: {len(self.extrinsic_scans)} scans have non-identity depth / '
                         f'colour extrinsics, applied in depth2img (e.g. '
                         f'{self.extrinsic_scans[:3]})')
        if self.bad_poses:
            lines.append(f'  note: {self.bad_poses} pairs have a non-finite pose (ScanNet marks '
                         f'lost tracking so); kept: the pairs live in the camera frame')
        if self.skipped:
            lines.append('  skipped frames (file, frame: reason):')
            lines += [f'    {path}, frame {frame}: {reason}'
                      for path, frame, reason in self.skipped[:self.max_listed]]
            if len(self.skipped) > self.max_listed:
                lines.append(f'    ... and {len(self.skipped) - self.max_listed} more')
        if self.failed_scans:
            lines.append('  failed scans (left out):')
            lines += [f'    {scene}: {msg}' for scene, msg in self.failed_scans.items()]
        lines += [f'  {split} infos: {path}' for split, path in self.info_files.items()]
        return '\n'.join(lines)


def _count_selected(scan: str, frame_skip: int) -> int:
    try:
        if osp.isdir(scan):
            ids = [int(f[:-4]) for f in os.listdir(scan) if re.fullmatch(r'\d+\.jpg', f)]
            return sum(i % frame_skip == 0 for i in ids)
        num = read_sens_header(scan).num_frames
        return (num + frame_skip - 1) // frame_skip
    except (OSError, ValueError):  # reported when the scan is converted
        return 0


def _scan_task(args: tuple) -> Tuple[Optional[ScanResult], str, str]:
    """One scan in a worker process: (result, scene, error message)."""
    scene, scan, kwargs = args
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', CorruptFrameWarning)  # reported by the parent
            return convert_scan(scan, scene, **kwargs), scene, ''
    except Exception as err:  # noqa: BLE001  (named in the summary)
        return None, scene, f'{type(err).__name__}: {err}'


def _check_options(out_root: str, options: dict) -> None:
    path = osp.join(out_root, _OPTIONS_FILE)
    if osp.isfile(path):
        with open(path) as f:
            before = json.load(f)
        if before != options:
            raise ValueError(f'{out_root} holds pairs converted with {before}, this run asks '
                             f'for {options}: use another output folder or delete that one')
    else:
        with open(path, 'w') as f:
            json.dump(options, f)


def convert_scannet_frames(out_root: str, sens_root: Optional[str] = None,
                           posed_images_root: Optional[str] = None,
                           split_dir: Optional[str] = None, val_fraction: float = 0.2,
                           frame_skip: int = 25, points_per_frame: int = 20000,
                           min_points: int = 4096, max_depth: Optional[float] = None,
                           depth_shift: Optional[float] = None, seed: int = 0,
                           workers: int = 1, progress: bool = True) -> ScanNetFramesSummary:
    """Convert ScanNet scans into (point cloud, image) pairs and write the two info files.

    Args:
        out_root: output root (``frames/``, ``scannet_frames_infos_{train,val}.pkl``).
        sens_root: ScanNet's ``scans/`` folder (``<scene>/<scene>.sens``), or
        posed_images_root: mmdet3d's ``posed_images/`` folder (``<scene>/NNNNN.*``).
        split_dir / val_fraction: the scene-level split (:func:`split_scenes`).
        frame_skip, points_per_frame, min_points, max_depth, depth_shift, seed: as
            :func:`convert_scan`.
        workers: processes (one scan each at a time).
        progress: show a tqdm bar over the selected frames.

    Re-running on the same ``out_root`` reuses the pairs written (the options must match: they
    are kept in ``out_root/.scannet_frames_options.json``). Skipped frames and scans that
    cannot be opened are named in the summary (and warned about); the others go on.
    """
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    start = time.perf_counter()
    scans = find_scans(sens_root, posed_images_root)
    splits, notes = split_scenes(list(scans), split_dir, val_fraction)
    os.makedirs(out_root, exist_ok=True)
    _check_options(out_root, dict(
        source='sens' if sens_root is not None else 'posed_images', frame_skip=frame_skip,
        points_per_frame=points_per_frame, min_points=min_points, max_depth=max_depth,
        depth_shift=depth_shift, seed=seed))
    summary = ScanNetFramesSummary(notes=notes)
    kwargs = dict(out_root=out_root, frame_skip=frame_skip, points_per_frame=points_per_frame,
                  min_points=min_points, max_depth=max_depth, depth_shift=depth_shift,
                  seed=seed)
    chosen = [s for split in splits.values() for s in split]
    counts = {s: _count_selected(scans[s], frame_skip) for s in chosen}
    from tqdm import tqdm
    bar = tqdm(total=sum(counts.values()), unit='frame', desc='ScanNet frames',
               disable=not progress, dynamic_ncols=True)
    results: Dict[str, ScanResult] = {}
    try:
        if workers > 1 and len(chosen) > 1:
            tasks = [(s, scans[s], kwargs) for s in chosen]
            # the platform's default start method (fork on Linux: workers need no re-import)
            with mp.get_context().Pool(min(workers, len(chosen))) as pool:
                for result, scene, error in pool.imap_unordered(_scan_task, tasks):
                    _collect(summary, results, scene, result, error, warn=True)
                    bar.update(counts[scene])
        else:
            for scene in chosen:
                try:
                    result, error = convert_scan(scans[scene], scene, progress=bar.update,
                                                 **kwargs), ''
                except Exception as err:  # noqa: BLE001  (named in the summary)
                    result, error = None, f'{type(err).__name__}: {err}'
                _collect(summary, results, scene, result, error, warn=False)
    finally:
        bar.close()
    metainfo = dict(dataset='ScanNetFramePairs',
                    source='sens' if sens_root is not None else 'posed_images',
                    frame_skip=frame_skip, points_per_frame=points_per_frame,
                    min_points=min_points, max_depth=max_depth, seed=seed,
                    coordinate_frame='depth camera (x right, y down, z forward), metres',
                    columns=('x', 'y', 'z', 'r', 'g', 'b'))
    for split, scenes in splits.items():
        kept = [s for s in scenes if s in results]
        summary.splits[split] = kept
        data_list = [info for s in kept for info in results[s].infos]
        summary.pairs[split] = len(data_list)
        path = osp.join(out_root, INFO_FILES[split])
        mmengine.dump(dict(metainfo=dict(metainfo, split=split), data_list=data_list), path,
                      'pkl')
        summary.info_files[split] = path
    summary.seconds = time.perf_counter() - start
    return summary


def _collect(summary: ScanNetFramesSummary, results: Dict[str, ScanResult], scene: str,
             result: Optional[ScanResult], error: str, warn: bool) -> None:
    if result is None:
        summary.failed_scans[scene] = error
        warnings.warn(f'scan {scene} failed and is left out: {error}', CorruptFrameWarning,
                      stacklevel=3)
        return
    results[scene] = result
    summary.converted += result.converted
    summary.reused += result.reused
    summary.bad_poses += result.bad_poses
    if result.extrinsics_applied:
        summary.extrinsic_scans.append(scene)
    summary.skipped += result.skipped
    if warn:
        for path, frame, reason in result.skipped:
            warnings.warn(f'skipped {path}: frame {frame}: {reason}', CorruptFrameWarning,
                          stacklevel=3)
