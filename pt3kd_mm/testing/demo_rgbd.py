"""Synthetic ScanNet RGB-D scans (no downloads): rooms of axis-aligned boxes (a floor, four walls,
no ceiling, furniture of :mod:`~pt3kd_mm.testing.demo_scannet`'s shapes) seen by a moving
camera, ray cast with numpy, written as ScanNet's raw ``.sens`` files and as mmdet3d's
posed-images folders::

    ROOT/scans/<scene>/<scene>.sens            JPEG colour + zlib depth, ScanNet's format
    ROOT/posed_images/<scene>/NNNNN.jpg        the same JPEG bytes (mmdet3d's layout)
                              NNNNN.png        uint16 depth, millimetres (depth_shift 1000)
                              NNNNN.txt        4x4 camera-to-world pose ('%f', as mmdet3d)
                              intrinsic.txt    4x4 colour intrinsics (mmdet3d)
                              intrinsic_depth.txt, extrinsic_color.txt, extrinsic_depth.txt
    ROOT/scannetv2_train.txt, scannetv2_val.txt

Like real ScanNet, colour and depth have different sizes and intrinsics (ScanNet's, scaled);
the depth camera sits 2.5 cm to the right of the colour camera (``DEPTH_EXTRINSIC``, a
non-identity extrinsic), so the whole depth -> colour mapping is exercised. The frame pose is the
colour camera's (camera-to-world, x right, y down, z forward; the world is z up). Depth is the
z of the hit in the depth camera in millimetres; 0 where a ray leaves the room (no ceiling) and
at 1 % random pixels (sensor holes). Colour is a per-box colour with Lambert shading and a
0.4 m checker texture. The command line is ``tools/create_demo_data.py --scannet-frames``.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from pt3kd_mm.datasets.converters.scannet_frames import SensWriter, encode_jpeg
from pt3kd_mm.testing.demo_scannet import FURNITURE, _lamp, _place, _turn

#: ScanNet's typical calibration (colour 1296x968, depth 640x480), scaled to other sizes
SCANNET_COLOR = dict(size=(1296, 968), fx=1170.19, fy=1170.19, cx=647.75, cy=483.75)
SCANNET_DEPTH = dict(size=(640, 480), fx=577.59, fy=578.73, cx=318.91, cy=242.68)
#: depth camera -> colour camera (the rig): 2.5 cm to the right
DEPTH_EXTRINSIC = np.array([[1, 0, 0, 0.025], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                           np.float64)
_LIGHT = np.array([0.3, 0.5, 0.81]) / np.linalg.norm([0.3, 0.5, 0.81])


def scaled_intrinsics(calib: dict, size: Tuple[int, int]) -> np.ndarray:
    """(4, 4) intrinsics of ``calib`` (``SCANNET_COLOR`` / ``SCANNET_DEPTH``) for an image of
    ``size`` (width, height)."""
    sx, sy = size[0] / calib['size'][0], size[1] / calib['size'][1]
    k = np.eye(4)
    k[0, 0], k[1, 1] = calib['fx'] * sx, calib['fy'] * sy
    k[0, 2], k[1, 2] = (calib['cx'] + 0.5) * sx - 0.5, (calib['cy'] + 0.5) * sy - 0.5
    return k


@dataclass
class BoxRoom:
    """Axis-aligned boxes (B, 2, 3) (min, max corner, world frame, z up, metres), their RGB
    colours (B, 3) and the room's (2,) floor size."""
    boxes: np.ndarray
    colors: np.ndarray
    size: np.ndarray


def make_room(rng: np.random.Generator) -> BoxRoom:
    """A room centred at the origin: floor, four walls 2.6 m high, 3-5 furniture pieces and a
    lamp (demo_scannet's shapes, turned by multiples of 90 degrees)."""
    size = np.array([rng.uniform(5.0, 7.0), rng.uniform(4.0, 6.0)])
    sx, sy, h = size[0] / 2, size[1] / 2, 2.6
    boxes = [((-sx, -sy, -0.05), (sx, sy, 0)), ((-sx - 0.05, -sy, 0), (-sx, sy, h)),
             ((sx, -sy, 0), (sx + 0.05, sy, h)), ((-sx, -sy - 0.05, 0), (sx, -sy, h)),
             ((-sx, sy, 0), (sx, sy + 0.05, h))]
    colors = [(150, 150, 140), (200, 190, 170), (170, 190, 200), (190, 200, 170),
              (200, 170, 180)]
    taken: List[np.ndarray] = [np.array([[-0.8, -0.8], [0.8, 0.8]])]  # the camera's path
    names = list(rng.choice(list(FURNITURE), size=int(rng.integers(3, 6)), replace=False))
    for name in names + ['lamp']:
        shape, color = (_lamp, (240, 230, 150)) if name == 'lamp' else FURNITURE[name][1:]
        parts = _turn(shape(rng), int(rng.integers(4)), np.zeros(3))
        lo, hi = parts[:, 0].min(0), parts[:, 1].max(0)
        at = _place(rng, (hi - lo)[:2], size, taken)
        if at is None:
            continue
        parts = parts + np.append(at - lo[:2], -lo[2])
        boxes += [tuple(map(tuple, p)) for p in parts]
        colors += [color] * len(parts)
    return BoxRoom(np.asarray(boxes, np.float64), np.asarray(colors, np.float64), size)


def camera_path(room: BoxRoom, num_frames: int) -> np.ndarray:
    """(F, 4, 4) camera-to-world poses (x right, y down, z forward) of a camera circling the
    room's centre at about 1.4 m, looking outwards and 17 degrees down."""
    poses = np.zeros((num_frames, 4, 4))
    for i in range(num_frames):
        theta = 2 * np.pi * i / num_frames
        yaw, pitch = theta + 0.4 * np.sin(3 * theta), -0.3
        forward = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch),
                            np.sin(pitch)])
        right = np.cross(forward, [0, 0, 1])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        poses[i, :3, :3] = np.stack([right, down, forward], 1)
        poses[i, :3, 3] = [0.5 * np.cos(theta), 0.4 * np.sin(theta),
                           1.4 + 0.1 * np.sin(2 * theta)]
        poses[i, 3, 3] = 1
    return poses


def cast_rays(room: BoxRoom, origin: np.ndarray,
              dirs: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest box hit of rays ``origin + t * dirs``.

    Args:
        room: the boxes.
        origin: (3,) world point.
        dirs: (P, 3) world directions (not normalised; t is in their units).

    Returns:
        t (P,) (inf: no hit), box index (P,) (-1: none) and the axis (P,) of the face hit.
    """
    with np.errstate(divide='ignore'):
        inv = 1.0 / dirs
    best = np.full(len(dirs), np.inf)
    box = np.full(len(dirs), -1)
    axis = np.zeros(len(dirs), np.int64)
    for b, (lo, hi) in enumerate(room.boxes):
        with np.errstate(invalid='ignore'):
            t1, t2 = (lo - origin) * inv, (hi - origin) * inv
            near = np.minimum(t1, t2)
            t_near = near.max(1)
            t_far = np.maximum(t1, t2).min(1)
            hit = (t_far >= t_near) & (t_near > 1e-6) & (t_near < best)
        if hit.any():
            best[hit] = t_near[hit]
            box[hit] = b
            axis[hit] = near[hit].argmax(1)
    return best, box, axis


def shade(room: BoxRoom, points: np.ndarray, box: np.ndarray, axis: np.ndarray,
          dirs: np.ndarray) -> np.ndarray:
    """(P, 3) uint8 colours of hits: box colour x Lambert shading x a 0.4 m checker."""
    normal = np.zeros_like(points)
    normal[np.arange(len(points)), axis] = -np.sign(dirs[np.arange(len(points)), axis])
    light = 0.55 + 0.45 * np.abs(normal @ _LIGHT)
    checker = (np.floor(points / 0.4).astype(np.int64).sum(1) % 2) * 0.18 + 0.82
    return np.clip(room.colors[box] * (light * checker)[:, None], 0, 255).astype(np.uint8)


def _pixel_rays(k: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) camera-frame ray directions with z = 1 of the pixel centres."""
    u, v = np.meshgrid(np.arange(size[0]), np.arange(size[1]))
    return np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones(u.shape)], -1)


def _box_pixel_window(lo: np.ndarray, hi: np.ndarray, cam2world: np.ndarray, k: np.ndarray,
                      size: Tuple[int, int]) -> Optional[Tuple[slice, slice]]:
    """The pixel rows / columns a box can cover (all of them when it reaches behind the
    camera), None when it is outside the view."""
    corners = np.array([[(lo, hi)[i >> j & 1][j] for j in range(3)] for i in range(8)])
    cam = (corners - cam2world[:3, 3]) @ cam2world[:3, :3]
    if (cam[:, 2] < 0.05).any():
        return slice(0, size[1]), slice(0, size[0])
    u = k[0, 0] * cam[:, 0] / cam[:, 2] + k[0, 2]
    v = k[1, 1] * cam[:, 1] / cam[:, 2] + k[1, 2]
    u0, u1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, size[0])
    v0, v1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, size[1])
    if u0 >= u1 or v0 >= v1:
        return None
    return slice(v0, v1), slice(u0, u1)


def _cast_image(room: BoxRoom, cam2world: np.ndarray, k: np.ndarray, size: Tuple[int, int]
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of the camera: world ray direction (H, W, 3) (camera z = 1), hit t = z depth
    (H, W) (inf: none), box (H, W) (-1: none) and face axis (H, W); each box is tested only in
    the pixel window its corners project to."""
    dirs = _pixel_rays(k, size) @ cam2world[:3, :3].T
    origin = cam2world[:3, 3]
    with np.errstate(divide='ignore'):
        inv = [(1.0 / dirs[..., a]).astype(np.float32) for a in range(3)]  # planes: fast
    best = np.full(dirs.shape[:2], np.inf, np.float32)
    box = np.full(dirs.shape[:2], -1)
    axis = np.zeros(dirs.shape[:2], np.int64)
    for b, (lo, hi) in enumerate(room.boxes):
        win = _box_pixel_window(lo, hi, cam2world, k, size)
        if win is None:
            continue
        near, far = [], []
        with np.errstate(invalid='ignore'):
            for a in range(3):
                t1 = np.float32(lo[a] - origin[a]) * inv[a][win]
                t2 = np.float32(hi[a] - origin[a]) * inv[a][win]
                near.append(np.minimum(t1, t2))
                far.append(np.maximum(t1, t2))
            t_near = np.maximum(np.maximum(near[0], near[1]), near[2])
            t_far = np.minimum(np.minimum(far[0], far[1]), far[2])
            w_best = best[win]
            hit = (t_far >= t_near) & (t_near > 1e-6) & (t_near < w_best)
        if hit.any():
            w_best[hit] = t_near[hit]
            box[win][hit] = b
            axis[win][hit] = np.where(near[0] == t_near, 0,
                                      np.where(near[1] == t_near, 1, 2))[hit]
    return dirs, best.astype(np.float64), box, axis


def render_color(room: BoxRoom, cam2world: np.ndarray, k: np.ndarray,
                 size: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB view of ``room`` by the camera ``cam2world`` with intrinsics ``k``
    and ``size`` (width, height); black where a ray leaves the room."""
    dirs, t, box, axis = _cast_image(room, cam2world, k, size)
    img = np.zeros(dirs.shape, np.uint8)
    hit = box >= 0
    img[hit] = shade(room, cam2world[:3, 3] + t[hit, None] * dirs[hit], box[hit], axis[hit],
                     dirs[hit])
    return img


def render_depth(room: BoxRoom, cam2world: np.ndarray, k: np.ndarray, size: Tuple[int, int],
                 depth_shift: float = 1000.0) -> np.ndarray:
    """(H, W) uint16 depth (z in the camera, ``depth_shift`` units per metre; 0: no hit)."""
    _, t, _, _ = _cast_image(room, cam2world, k, size)  # the rays have camera z = 1: t is z
    depth = np.where(np.isfinite(t), np.round(t * depth_shift), 0)
    return np.clip(depth, 0, 65535).astype(np.uint16)


def surface_colour(room: BoxRoom, cam2world: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P, 3) uint8 colours the camera ``cam2world`` sees in the directions of world ``points``
    (P, 3): the renderer's colour of each point where it is visible."""
    origin = cam2world[:3, 3]
    dirs = points - origin
    t, box, axis = cast_rays(room, origin, dirs)
    out = np.zeros((len(points), 3), np.uint8)
    hit = box >= 0
    out[hit] = shade(room, origin + t[hit, None] * dirs[hit], box[hit], axis[hit], dirs[hit])
    return out


def _savetxt(path: str, matrix: np.ndarray) -> None:
    np.savetxt(path, np.asarray(matrix, np.float64).reshape(4, 4), fmt='%f')


def create_rgbd_demo(root: str, num_scenes: int = 2, frames_per_scene: int = 50,
                     color_size: Tuple[int, int] = (320, 240),
                     depth_size: Tuple[int, int] = (160, 120), seed: int = 0,
                     posed_images: bool = True, unique_frames: Optional[int] = None
                     ) -> Dict[str, object]:
    """Write synthetic RGB-D scans under ``root`` (see the module docstring).

    Args:
        root: output folder.
        num_scenes: scenes 'scene0000_00', ...; the last quarter (at least one) is val.
        frames_per_scene: frames of each scan.
        color_size, depth_size: (width, height); ScanNet's are (1296, 968) and (640, 480).
        seed: the rooms and the depth holes.
        posed_images: also write mmdet3d's posed-images folders.
        unique_frames: render only this many distinct views per scene and repeat them
            (benchmarks of real-size frames; None renders every frame).

    Returns:
        dict(rooms={scene: BoxRoom}, poses={scene: (F, 4, 4)}, splits={'train': [...],
        'val': [...]}, intrinsic_color, intrinsic_depth, extrinsic_depth (4, 4) each).
    """
    if num_scenes < 2:
        raise ValueError(f'num_scenes must be >= 2 (train and val), got {num_scenes}')
    rng = np.random.default_rng(seed)
    k_color = scaled_intrinsics(SCANNET_COLOR, color_size)
    k_depth = scaled_intrinsics(SCANNET_DEPTH, depth_size)
    names = [f'scene{i:04d}_00' for i in range(num_scenes)]
    num_val = max(1, num_scenes // 4)
    splits = dict(train=names[:-num_val], val=names[-num_val:])
    rooms, all_poses = {}, {}
    for scene in names:
        room = rooms[scene] = make_room(rng)
        poses = all_poses[scene] = camera_path(room, frames_per_scene)
        scan_dir = osp.join(root, 'scans', scene)
        posed_dir = osp.join(root, 'posed_images', scene)
        os.makedirs(scan_dir, exist_ok=True)
        if posed_images:
            os.makedirs(posed_dir, exist_ok=True)
            for name, m in (('intrinsic', k_color), ('intrinsic_depth', k_depth),
                            ('extrinsic_color', np.eye(4)),
                            ('extrinsic_depth', DEPTH_EXTRINSIC)):
                _savetxt(osp.join(posed_dir, f'{name}.txt'), m)
        cache: Dict[int, Tuple[bytes, np.ndarray]] = {}
        with SensWriter(osp.join(scan_dir, f'{scene}.sens'), k_color, k_depth, color_size,
                        depth_size, extrinsic_depth=DEPTH_EXTRINSIC) as writer:
            for i, pose in enumerate(poses):
                key = i if unique_frames is None else i % unique_frames
                if key in cache:
                    jpeg, depth = cache[key]
                else:
                    jpeg = encode_jpeg(render_color(room, pose, k_color, color_size), 90)
                    depth = render_depth(room, pose @ DEPTH_EXTRINSIC, k_depth, depth_size)
                    depth[rng.random(depth.shape) < 0.01] = 0
                    if unique_frames is not None:
                        cache[key] = (jpeg, depth)
                writer.add_frame(jpeg, depth, pose, timestamp_color=i * 33333,
                                 timestamp_depth=i * 33333 + 100)
                if posed_images:
                    with open(osp.join(posed_dir, f'{i:05d}.jpg'), 'wb') as f:
                        f.write(jpeg)
                    cv2.imwrite(osp.join(posed_dir, f'{i:05d}.png'), depth)
                    _savetxt(osp.join(posed_dir, f'{i:05d}.txt'), pose)
    for split, scenes in splits.items():
        with open(osp.join(root, f'scannetv2_{split}.txt'), 'w') as f:
            f.write(''.join(f'{s}\n' for s in scenes))
    return dict(rooms=rooms, poses=all_poses, splits=splits, intrinsic_color=k_color,
                intrinsic_depth=k_depth, extrinsic_depth=DEPTH_EXTRINSIC.copy())
