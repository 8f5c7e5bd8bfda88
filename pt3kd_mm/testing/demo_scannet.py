"""Synthetic ScanNet rooms (no downloads): raw scans exactly as ScanNet ships them, then
:func:`~pt3kd_mm.datasets.converters.prepare_scannet` turns them into mmdet3d's layout::

    ROOT/scans/scene000i_00/...        _vh_clean_2.ply, .aggregation.json, segs.json, .txt
    ROOT/scans_test/scene0100_00/...   one test scan (mesh + .txt without axisAlignment)
    ROOT/scannetv2-labels.combined.tsv the rows the rooms use, ScanNet's header
    ROOT/scannetv2_{train,val,test}.txt
    ROOT/points/, instance_mask/, semantic_mask/, scannet_infos_{train,val,test}.pkl, ...

A room is a floor and four walls (annotated as in ScanNet), a few unannotated clutter points,
a lamp (annotated, not a detection class) and 3-6 pieces of furniture of six of ScanNet's 18
detection classes (cabinet, bed, chair, sofa, table, bookshelf), each a union of boxes whose
surfaces are sampled densely and with a class-specific shape and size, turned by a multiple of
90 degrees (so its axis-aligned box is exact). Rooms are built in the aligned frame; the mesh
is written in a raw frame, ``axisAlignment`` (a yaw plus a translation) maps it back.
The command line is ``tools/create_demo_data.py --scannet``.
"""
import json
import os
import os.path as osp
import shutil
from typing import Callable, Dict, List, Tuple

import numpy as np

from pt3kd_mm.datasets.converters.scannet import LABEL_MAP_FILE, prepare_scannet

Box = Tuple[Tuple[float, float, float], Tuple[float, float, float]]  # (min xyz, max xyz)

# raw_category -> (id, category, nyu40id, eigen13id, nyuClass, nyu40class, eigen13class,
# mpcat40, mpcat40index), the columns of scannetv2-labels.combined.tsv that matter here
TSV_ROWS = {
    'wall': (1, 'wall', 1, 12, 'wall', 'wall', 'Wall', 'wall', 1),
    'chair': (2, 'chair', 5, 4, 'chair', 'chair', 'Chair', 'chair', 3),
    'floor': (3, 'floor', 2, 5, 'floor', 'floor', 'Floor', 'floor', 2),
    'table': (4, 'table', 7, 10, 'table', 'table', 'Table', 'table', 5),
    'couch': (6, 'couch', 6, 9, 'sofa', 'sofa', 'Sofa', 'sofa', 10),
    'cabinet': (7, 'cabinet', 3, 6, 'cabinet', 'cabinet', 'Furniture', 'cabinet', 7),
    'bed': (11, 'bed', 4, 1, 'bed', 'bed', 'Bed', 'bed', 11),
    'bookshelf': (18, 'bookshelf', 10, 6, 'bookshelf', 'bookshelf', 'Furniture', 'shelving',
                  31),
    'lamp': (28, 'lamp', 35, 7, 'lamp', 'lamp', 'Objects', 'lighting', 28),
}
TSV_HEADER = ('id', 'raw_category', 'category', 'count', 'nyu40id', 'eigen13id', 'nyuClass',
              'nyu40class', 'eigen13class', 'ModelNet40', 'ModelNet10', 'ShapeNetCore55',
              'synsetoffset', 'wnsynsetid', 'wnsynsetkey', 'mpcat40', 'mpcat40index')


def _slab(x0, x1, y0, y1, z0, z1) -> Box:
    return (x0, y0, z0), (x1, y1, z1)


def _legs(w, d, h, t) -> List[Box]:
    return [_slab(sx * w / 2 - (t if sx > 0 else 0), sx * w / 2 + (0 if sx > 0 else t),
                  sy * d / 2 - (t if sy > 0 else 0), sy * d / 2 + (0 if sy > 0 else t), 0, h)
            for sx in (-1, 1) for sy in (-1, 1)]


def _chair(rng) -> List[Box]:
    w, d, seat, top = rng.uniform(0.42, 0.52), rng.uniform(0.42, 0.52), 0.45, 0.9
    return _legs(w, d, seat - 0.04, 0.04) + [
        _slab(-w / 2, w / 2, -d / 2, d / 2, seat - 0.04, seat),
        _slab(-w / 2, w / 2, d / 2 - 0.05, d / 2, seat, rng.uniform(0.85, 0.95) * top / 0.9)]


def _table(rng) -> List[Box]:
    w, d, h = rng.uniform(1.2, 1.6), rng.uniform(0.7, 0.9), rng.uniform(0.72, 0.78)
    return _legs(w - 0.1, d - 0.1, h - 0.04, 0.06) + [
        _slab(-w / 2, w / 2, -d / 2, d / 2, h - 0.04, h)]


def _bed(rng) -> List[Box]:
    w, d = rng.uniform(1.9, 2.1), rng.uniform(1.4, 1.8)
    return [_slab(-w / 2, w / 2, -d / 2, d / 2, 0, 0.5),
            _slab(-w / 2, -w / 2 + 0.08, -d / 2, d / 2, 0, rng.uniform(0.95, 1.1))]


def _sofa(rng) -> List[Box]:
    w, d = rng.uniform(1.8, 2.2), rng.uniform(0.85, 0.95)
    return [_slab(-w / 2 + 0.15, w / 2 - 0.15, -d / 2, d / 2 - 0.2, 0, 0.42),
            _slab(-w / 2, w / 2, d / 2 - 0.2, d / 2, 0, rng.uniform(0.8, 0.9)),
            _slab(-w / 2, -w / 2 + 0.15, -d / 2, d / 2 - 0.2, 0, 0.62),
            _slab(w / 2 - 0.15, w / 2, -d / 2, d / 2 - 0.2, 0, 0.62)]


def _cabinet(rng) -> List[Box]:
    w, d, h = rng.uniform(0.6, 1.0), rng.uniform(0.45, 0.6), rng.uniform(0.8, 1.1)
    return [_slab(-w / 2, w / 2, -d / 2, d / 2, 0, h)]


def _bookshelf(rng) -> List[Box]:
    w, d, h, t = rng.uniform(0.8, 1.2), rng.uniform(0.3, 0.4), rng.uniform(1.6, 2.0), 0.03
    parts = [_slab(-w / 2, w / 2, d / 2 - t, d / 2, 0, h),  # back
             _slab(-w / 2, -w / 2 + t, -d / 2, d / 2, 0, h),
             _slab(w / 2 - t, w / 2, -d / 2, d / 2, 0, h)]
    return parts + [_slab(-w / 2, w / 2, -d / 2, d / 2, z, z + t)
                    for z in np.linspace(0, h - t, 5)]


def _lamp(rng) -> List[Box]:
    h = rng.uniform(1.4, 1.7)
    return [_slab(-0.15, 0.15, -0.15, 0.15, 0, 0.03), _slab(-0.02, 0.02, -0.02, 0.02, 0, h),
            _slab(-0.18, 0.18, -0.18, 0.18, h, h + 0.25)]


# detection class (mmdet3d's name) -> (raw_category, shape, RGB)
FURNITURE: Dict[str, Tuple[str, Callable, Tuple[int, int, int]]] = {
    'chair': ('chair', _chair, (200, 60, 50)),
    'table': ('table', _table, (150, 100, 50)),
    'bed': ('bed', _bed, (70, 110, 200)),
    'sofa': ('couch', _sofa, (60, 160, 80)),
    'cabinet': ('cabinet', _cabinet, (180, 160, 120)),
    'bookshelf': ('bookshelf', _bookshelf, (110, 70, 40)),
}


def _turn(parts: List[Box], quarter_turns: int, offset: np.ndarray) -> np.ndarray:
    """(P, 2, 3) part boxes turned by 90 degrees ``quarter_turns`` times about z, shifted."""
    boxes = np.asarray(parts, dtype=np.float64)
    for _ in range(quarter_turns % 4):  # (x, y) -> (-y, x)
        boxes = np.stack([-boxes[..., 1], boxes[..., 0], boxes[..., 2]], -1)
        boxes = np.stack([boxes.min(1), boxes.max(1)], 1)
    return boxes + offset


def _sample_boxes(rng, boxes: np.ndarray, num: int) -> Tuple[np.ndarray, np.ndarray]:
    """``num`` points (at least the 8 corners of every box) on the surfaces of (P, 2, 3)
    boxes, area-weighted; returns the points and the box index of each."""
    size = boxes[:, 1] - boxes[:, 0]
    face_area = np.stack([size[:, 1] * size[:, 2], size[:, 0] * size[:, 2],
                          size[:, 0] * size[:, 1]], 1).repeat(2, 1)  # (P, 6): -x +x -y ...
    corners = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], np.float64)
    pts = [boxes[p, 0] + corners * size[p] for p in range(len(boxes))]
    part = [np.full(8, p) for p in range(len(boxes))]
    extra = max(num - 8 * len(boxes), 0)
    flat = face_area.ravel() / face_area.sum()
    pick = rng.choice(len(flat), size=extra, p=flat)
    p, face = pick // 6, pick % 6
    uvw = rng.uniform(0, 1, size=(extra, 3))
    uvw[np.arange(extra), face // 2] = face % 2
    pts.append(boxes[p, 0] + uvw * size[p])
    part.append(p)
    return np.concatenate(pts), np.concatenate(part)


def _place(rng, footprint: np.ndarray, room: np.ndarray, taken: List[np.ndarray]):
    """A position for a (2,) footprint inside the (2,) room, clear of the ``taken`` (2, 2)
    rectangles by 0.1 m; None after 200 tries."""
    for _ in range(200):
        lo = rng.uniform(-room / 2 + 0.1, room / 2 - 0.1 - footprint)
        rect = np.stack([lo, lo + footprint])
        if all((rect[1] + 0.1 <= t[0]).any() or (t[1] + 0.1 <= rect[0]).any() for t in taken):
            taken.append(rect)
            return lo
    return None


def write_scannet_ply(path: str, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """Binary little-endian PLY as ScanNet's ``_vh_clean_2.ply``: x, y, z, red, green,
    blue, alpha vertices and triangle faces (here trivial ones over consecutive vertices)."""
    verts = np.zeros(len(xyz), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('red', 'u1'),
                                      ('green', 'u1'), ('blue', 'u1'), ('alpha', 'u1')])
    for i, key in enumerate('xyz'):
        verts[key] = xyz[:, i]
    for i, key in enumerate(('red', 'green', 'blue')):
        verts[key] = rgb[:, i]
    verts['alpha'] = 255
    faces = np.zeros(len(xyz) // 3, dtype=[('n', 'u1'), ('v', '<i4', (3,))])
    faces['n'] = 3
    faces['v'] = np.arange(3 * len(faces)).reshape(-1, 3)
    header = ('ply\nformat binary_little_endian 1.0\ncomment synthetic pt3kd_mm demo room\n'
              f'element vertex {len(verts)}\nproperty float x\nproperty float y\n'
              'property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n'
              f'property uchar alpha\nelement face {len(faces)}\n'
              'property list uchar int vertex_indices\nend_header\n')
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        f.write(verts.tobytes())
        f.write(faces.tobytes())


def _room(rng, num_points: int) -> Tuple[np.ndarray, np.ndarray, list, list]:
    """One room in the aligned frame: (N, 3) points, (N, 3) uint8 colours, per-point segment
    index into ``groups`` order (-1 for clutter) and the groups ``[(raw_category, parts,
    box)]``."""
    size = np.array([rng.uniform(5.0, 7.0), rng.uniform(4.0, 6.0)])
    height = 2.6
    sx, sy = size / 2
    room_parts = [('floor', [_slab(-sx, sx, -sy, sy, -0.02, 0)])]
    room_parts += [('wall', [_slab(-sx - 0.02, -sx, -sy, sy, 0, height)]),
                   ('wall', [_slab(sx, sx + 0.02, -sy, sy, 0, height)]),
                   ('wall', [_slab(-sx, sx, -sy - 0.02, -sy, 0, height)]),
                   ('wall', [_slab(-sx, sx, sy, sy + 0.02, 0, height)])]
    classes = rng.choice(list(FURNITURE), size=rng.integers(3, 7), replace=False)
    objects, taken = [], []
    for name in list(classes) + ['lamp']:
        raw, shape, color = FURNITURE[name] if name != 'lamp' else ('lamp', _lamp, (240, 230, 150))
        boxes = _turn(shape(rng), int(rng.integers(4)), np.zeros(3))
        lo, hi = boxes[:, 0].min(0), boxes[:, 1].max(0)
        at = _place(rng, (hi - lo)[:2], size, taken)
        if at is None:
            continue
        boxes = boxes + np.append(at - lo[:2], -lo[2])
        objects.append((raw, None if name == 'lamp' else str(name), boxes, color))
    # point budget: floor / walls 40 %, clutter 2 %, the objects the rest by surface area
    areas = np.array([np.sum(2 * ((b[:, 1] - b[:, 0])[:, [0, 0, 1]] *
                                  (b[:, 1] - b[:, 0])[:, [1, 2, 2]]).sum(1))
                      for _, _, b, _ in objects])
    n_clutter = num_points // 50
    n_room = int(0.4 * num_points)
    n_obj = num_points - n_clutter - n_room
    counts = np.floor(areas / areas.sum() * n_obj).astype(int)
    counts[0] += n_obj - counts.sum()
    xyz, rgb, seg, groups = [], [], [], []
    room_counts = [n_room // 3] + [(n_room - n_room // 3) // 4] * 4
    room_counts[0] += n_room - sum(room_counts)
    entries = [(raw, None, np.asarray(parts, np.float64), (128, 128, 128), n)
               for (raw, parts), n in zip(room_parts, room_counts)]
    entries += [(raw, name, boxes, color, n)
                for (raw, name, boxes, color), n in zip(objects, counts)]
    for raw, name, boxes, color, n in entries:
        pts, part = _sample_boxes(rng, boxes, n)
        first = sum(len(g[3]) for g in groups)
        xyz.append(pts)
        rgb.append(np.clip(np.array(color) + rng.normal(0, 12, (len(pts), 3)), 0, 255))
        seg.append(first + part)  # one segment per part box
        lo, hi = boxes[:, 0].min(0), boxes[:, 1].max(0)  # the points include every corner
        box = np.concatenate([(lo + hi) / 2, hi - lo])
        groups.append((raw, name, box, list(range(first, first + len(boxes)))))
    # unannotated clutter: small blobs on the floor, their own segments
    blobs = rng.uniform(-0.9, 0.9, (3, 2)) * size / 2
    clutter = np.concatenate([blobs[rng.integers(3, size=n_clutter)]
                              + rng.normal(0, 0.05, (n_clutter, 2)),
                              rng.uniform(0, 0.1, (n_clutter, 1))], 1)
    xyz.append(clutter)
    rgb.append(np.full((n_clutter, 3), 90.0))
    seg.append(np.full(n_clutter, -1))
    return (np.concatenate(xyz), np.concatenate(rgb).astype(np.uint8),
            np.concatenate(seg), groups)


def _axis_alignment(rng) -> np.ndarray:
    yaw = rng.uniform(np.deg2rad(20), np.deg2rad(70)) * rng.choice([-1, 1])
    c, s = np.cos(yaw), np.sin(yaw)
    matrix = np.eye(4)
    matrix[:2, :2] = [[c, -s], [s, c]]
    matrix[:3, 3] = [rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-0.1, 0.1)]
    return matrix


def _write_scan(scan_dir: str, rng, num_points: int, test_mode: bool) -> List[dict]:
    scene = osp.basename(scan_dir)
    os.makedirs(scan_dir, exist_ok=True)
    xyz, rgb, seg, groups = _room(rng, num_points)
    order = rng.permutation(len(xyz))  # ScanNet's vertex order mixes objects
    xyz, rgb, seg = xyz[order], rgb[order], seg[order]
    matrix = np.eye(4) if test_mode else _axis_alignment(rng)
    raw_xyz = (xyz - matrix[:3, 3]) @ np.linalg.inv(matrix[:3, :3]).T
    write_scannet_ply(osp.join(scan_dir, f'{scene}_vh_clean_2.ply'), raw_xyz, rgb)
    with open(osp.join(scan_dir, f'{scene}.txt'), 'w') as f:
        if not test_mode:
            f.write('axisAlignment = ' + ' '.join(f'{v:.17g}' for v in matrix.ravel()) + '\n')
        f.write('colorHeight = 968\ncolorWidth = 1296\nsceneType = Living room / Lounge\n')
    if test_mode:
        return []
    # segment ids: arbitrary distinct integers, as ScanNet's over-segmentation gives them
    num_segments = sum(len(g[3]) for g in groups)
    seg_ids = rng.permutation(200 * (num_segments + 3))[:num_segments + 3]
    clutter = seg < 0
    seg_index = np.where(clutter, seg_ids[num_segments + rng.integers(3, size=len(seg))],
                         seg_ids[np.maximum(seg, 0)])
    params = dict(kThresh='0.0001', segMinVerts='20', minPoints='10000', maxPoints='10000',
                  thinThresh='0.05', flatThresh='0.001', minLength='0.02', maxLength='1')
    with open(osp.join(scan_dir, f'{scene}_vh_clean_2.0.010000.segs.json'), 'w') as f:
        f.write(json.dumps(dict(params=params, sceneId=scene, segIndices=seg_index.tolist())))
    group_order = rng.permutation(len(groups))  # objectIds in no particular order
    seg_groups, known = [], []
    for object_id, g in enumerate(group_order):
        raw, name, box, segs = groups[g]
        seg_groups.append(dict(id=object_id, objectId=object_id,
                               segments=[int(seg_ids[s]) for s in segs], label=raw))
        known.append(dict(instance_id=object_id + 1, raw_category=raw,
                          nyu40id=TSV_ROWS[raw][2], name=name, box=box))
    with open(osp.join(scan_dir, f'{scene}.aggregation.json'), 'w') as f:
        json.dump(dict(sceneId=f'scannet.{scene}', appId='Aggregator.v2',
                       segGroups=seg_groups,
                       segmentsFile=f'scannet.{scene}_vh_clean_2.0.010000.segs.json'), f)
    return known


def write_label_map(path: str) -> None:
    """The rows of ``scannetv2-labels.combined.tsv`` the demo rooms use, with its header."""
    with open(path, 'w') as f:
        f.write('\t'.join(TSV_HEADER) + '\n')
        for raw, (idx, cat, nyu40, eigen13, nyu_cls, nyu40_cls, eigen13_cls, mpcat,
                  mpidx) in TSV_ROWS.items():
            row = [idx, raw, cat, 100, nyu40, eigen13, nyu_cls, nyu40_cls, eigen13_cls,
                   '', '', '', '', '', '', mpcat, mpidx]
            f.write('\t'.join(map(str, row)) + '\n')


def create_scannet_demo(root: str, num_scenes: int = 4, points_per_scene: int = 50000,
                        seed: int = 0, prepare: bool = True,
                        workers: int = 1) -> Dict[str, List[dict]]:
    """Write ``num_scenes`` synthetic rooms (train + val, the last quarter, at least one, for
    val) and one test scan as raw ScanNet under ``root``, then (``prepare``) run
    :func:`prepare_scannet` with ``root`` as raw and output folder (earlier extractions under
    ``root`` are removed first).

    Returns the known objects of each train / val scene: dicts with ``instance_id``
    (``objectId + 1``), ``raw_category``, ``nyu40id``, ``name`` (mmdet3d's class name; None for
    floor, walls and the lamp) and ``box`` (6,) ``[cx, cy, cz, dx, dy, dz]`` in the aligned
    (depth) frame, the extent of the points written.
    """
    if num_scenes < 2:
        raise ValueError(f'num_scenes must be >= 2 (train and val), got {num_scenes}')
    if points_per_scene < 2000:
        raise ValueError(f'points_per_scene must be >= 2000, got {points_per_scene}')
    rng = np.random.default_rng(seed)
    names = [f'scene{i:04d}_00' for i in range(num_scenes)]
    num_val = max(1, num_scenes // 4)
    splits = dict(train=names[:-num_val], val=names[-num_val:], test=['scene0100_00'])
    known = {}
    for scene in names:
        known[scene] = _write_scan(osp.join(root, 'scans', scene), rng, points_per_scene,
                                   test_mode=False)
    _write_scan(osp.join(root, 'scans_test', splits['test'][0]), rng, points_per_scene,
                test_mode=True)
    write_label_map(osp.join(root, LABEL_MAP_FILE))
    for split, scenes in splits.items():
        with open(osp.join(root, f'scannetv2_{split}.txt'), 'w') as f:
            f.write(''.join(f'{s}\n' for s in scenes))
    if prepare:  # the raw scans were just (re)written: extract every scene again
        shutil.rmtree(osp.join(root, 'scannet_instance_data'), ignore_errors=True)
        prepare_scannet(root, root, workers=workers)
    return known
