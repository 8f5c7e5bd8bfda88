"""Procedural demo / test objects (no downloads) in the ShapeNet-55 (Point-BERT) layout::

    OUT/ShapeNet-55/{train,test}.txt      <synset>-<id>.npy per line
    OUT/ShapeNet-55/taxonomy.json          [{"synset": ..., "name": ...}]  (class names)
    OUT/shapenet55.json                    the same names in ReCon's layout:
                                           [{"catalogue": <synset as int>, "describe": ...}]
    OUT/shapenet_pc/<synset>-<id>.npy      (8192, 3) float32 surface points, y up
    OUT/shapenet_img/<synset>-<id>.png     224 x 224 RGB rendered view (ReCon layout)

and in the ModelNet40 layout of Point-BERT / ReCon (``modelnet40_normal_resampled``)::

    OUT/modelnet40_shape_names.txt         class names (sphere, cube, ...), one per line
    OUT/modelnet40_{train,test}.txt        <class>_<4 digits> per line
    OUT/<class>/<class>_0001.txt           rows 'x,y,z,nx,ny,nz' (normals approximate)

The command line is ``tools/create_demo_data.py``.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Tuple

import numpy as np
from PIL import Image

Sampler = Callable[[np.random.Generator, int], np.ndarray]


def _area_choice(rng: np.random.Generator, areas: List[float], n: int) -> np.ndarray:
    p = np.asarray(areas, dtype=np.float64)
    return rng.choice(len(areas), size=n, p=p / p.sum())


def _box_surface(rng: np.random.Generator, n: int, size: np.ndarray,
                 center: np.ndarray = np.zeros(3)) -> np.ndarray:
    sx, sy, sz = size
    areas = [sy * sz, sy * sz, sx * sz, sx * sz, sx * sy, sx * sy]
    face = _area_choice(rng, areas, n)
    pts = rng.uniform(-0.5, 0.5, size=(n, 3))
    axis = face // 2
    pts[np.arange(n), axis] = np.where(face % 2 == 0, -0.5, 0.5)
    return pts * size + center


def sphere(rng, n):
    radii = rng.uniform(0.7, 1.0, size=3)
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * radii


def cube(rng, n):
    return _box_surface(rng, n, rng.uniform(0.8, 1.6, size=3))


def cylinder(rng, n):
    r, h = rng.uniform(0.3, 0.7), rng.uniform(1.0, 2.0)
    part = _area_choice(rng, [2 * np.pi * r * h, np.pi * r * r, np.pi * r * r], n)
    theta = rng.uniform(0, 2 * np.pi, n)
    rad = np.where(part == 0, r, r * np.sqrt(rng.uniform(0, 1, n)))
    y = np.where(part == 0, rng.uniform(-h / 2, h / 2, n), np.where(part == 1, -h / 2, h / 2))
    return np.stack([rad * np.cos(theta), y, rad * np.sin(theta)], 1)


def cone(rng, n):
    r, h = rng.uniform(0.4, 0.8), rng.uniform(1.0, 1.8)
    slant = np.sqrt(r * r + h * h)
    part = _area_choice(rng, [np.pi * r * slant, np.pi * r * r], n)
    theta = rng.uniform(0, 2 * np.pi, n)
    t = np.sqrt(rng.uniform(0, 1, n))  # area-uniform on the lateral surface
    rad = np.where(part == 0, r * t, r * np.sqrt(rng.uniform(0, 1, n)))
    y = np.where(part == 0, h / 2 - h * t, -h / 2)
    return np.stack([rad * np.cos(theta), y, rad * np.sin(theta)], 1)


def torus(rng, n):
    big, small = rng.uniform(0.6, 0.9), rng.uniform(0.15, 0.35)
    out = np.empty((0, 3))
    while len(out) < n:  # rejection sampling for an area-uniform surface
        u, v = rng.uniform(0, 2 * np.pi, (2, 2 * n))
        keep = rng.uniform(0, 1, 2 * n) < (big + small * np.cos(v)) / (big + small)
        u, v = u[keep], v[keep]
        ring = big + small * np.cos(v)
        out = np.concatenate([out, np.stack([ring * np.cos(u), small * np.sin(v),
                                             ring * np.sin(u)], 1)])
    return out[:n]


def table(rng, n):
    w, d, h = rng.uniform(1.2, 2.0), rng.uniform(0.8, 1.4), rng.uniform(0.8, 1.2)
    top_t, leg = 0.08, rng.uniform(0.06, 0.12)
    parts = [(np.array([w, top_t, d]), np.array([0, h / 2, 0]))]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append((np.array([leg, h, leg]),
                          np.array([sx * (w / 2 - leg), 0, sz * (d / 2 - leg)])))
    areas = [2 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2]) for s, _ in parts]
    which = _area_choice(rng, areas, n)
    out = np.empty((n, 3))
    for i, (size, center) in enumerate(parts):
        sel = which == i
        out[sel] = _box_surface(rng, int(sel.sum()), size, center)
    return out


CLASSES: Dict[str, Tuple[str, Sampler]] = {
    '90000001': ('sphere', sphere),
    '90000002': ('cube', cube),
    '90000003': ('cylinder', cylinder),
    '90000004': ('cone', cone),
    '90000005': ('torus', torus),
    '90000006': ('table', table),
}


def make_shape(rng: np.random.Generator, sampler: Sampler, num_points: int) -> np.ndarray:
    pts = sampler(rng, num_points)
    angle = rng.uniform(-np.pi, np.pi)  # about the up (y) axis
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    pts = pts @ rot.T + rng.normal(scale=0.005, size=pts.shape)
    return pts.astype(np.float32)


def render_view(points: np.ndarray, size: int = 224, color=(90, 140, 200)) -> np.ndarray:
    """Orthographic render from 30 degrees elevation, 45 degrees azimuth with a z-buffer and
    depth shading -> (size, size, 3) uint8 on a white background."""
    az, el = np.deg2rad(45.0), np.deg2rad(30.0)
    rot_y = np.array([[np.cos(az), 0, np.sin(az)], [0, 1, 0], [-np.sin(az), 0, np.cos(az)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(el), -np.sin(el)], [0, np.sin(el), np.cos(el)]])
    cam = points @ (rot_x @ rot_y).T
    cam = cam - cam.mean(0)
    scale = 0.45 * size / max(np.abs(cam[:, :2]).max(), 1e-6)
    u = (cam[:, 0] * scale + size / 2).astype(int)
    v = (size / 2 - cam[:, 1] * scale).astype(int)
    depth = cam[:, 2]
    shade = 0.35 + 0.65 * (depth - depth.min()) / max(np.ptp(depth), 1e-6)
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    zbuf = np.full((size, size), -np.inf)
    for du in (0, 1):
        for dv in (0, 1):
            uu, vv = np.clip(u + du, 0, size - 1), np.clip(v + dv, 0, size - 1)
            order = np.argsort(depth)  # far to near, nearer points overwrite
            uu, vv, d, sh = uu[order], vv[order], depth[order], shade[order]
            closer = d > zbuf[vv, uu]
            zbuf[vv[closer], uu[closer]] = d[closer]
            img[vv[closer], uu[closer]] = (np.outer(sh[closer], color)).astype(np.uint8)
    return img


def create_demo_data(out: str, train_per_class: int = 40, test_per_class: int = 10,
                     num_points: int = 8192, seed: int = 0) -> Dict[str, List[str]]:
    """Write the dataset under ``out`` and return the file names of each split."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out, 'ShapeNet-55'), exist_ok=True)
    os.makedirs(osp.join(out, 'shapenet_pc'), exist_ok=True)
    os.makedirs(osp.join(out, 'shapenet_img'), exist_ok=True)
    splits: Dict[str, List[str]] = {'train': [], 'test': []}
    for synset, (name, sampler) in CLASSES.items():
        for i in range(train_per_class + test_per_class):
            stem = f'{synset}-{name}{i:04d}'
            pts = make_shape(rng, sampler, num_points)
            np.save(osp.join(out, 'shapenet_pc', stem + '.npy'), pts)
            Image.fromarray(render_view(pts)).save(osp.join(out, 'shapenet_img', stem + '.png'))
            splits['train' if i < train_per_class else 'test'].append(stem + '.npy')
    for split, names in splits.items():
        with open(osp.join(out, 'ShapeNet-55', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    with open(osp.join(out, 'ShapeNet-55', 'taxonomy.json'), 'w') as f:
        json.dump([dict(synset=s, name=n) for s, (n, _) in CLASSES.items()], f, indent=1)
    with open(osp.join(out, 'shapenet55.json'), 'w') as f:
        json.dump([dict(catalogue=int(s), describe=n) for s, (n, _) in CLASSES.items()], f,
                  indent=1)
    return splits


def create_modelnet40_demo(root: str, per_class_train: int = 20, per_class_test: int = 5,
                           num_points: int = 2048, seed: int = 0) -> Dict[str, List[str]]:
    """Write the demo classes in the ModelNet40 layout under ``root`` (the
    ``modelnet40_normal_resampled`` folder) and return the shape ids of each split.

    Train shapes are numbered from 1, test shapes after them (as ModelNet40 numbers them).
    Normals are approximate: the unit direction from the shape's centroid (exact for spheres
    only); the loaders of this repo keep xyz by default.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    names = [name for name, _ in CLASSES.values()]
    splits: Dict[str, List[str]] = {'train': [], 'test': []}
    for name, sampler in CLASSES.values():
        os.makedirs(osp.join(root, name), exist_ok=True)
        for i in range(per_class_train + per_class_test):
            shape_id = f'{name}_{i + 1:04d}'
            pts = make_shape(rng, sampler, num_points)
            radial = pts - pts.mean(0)
            normals = radial / np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-8)
            np.savetxt(osp.join(root, name, shape_id + '.txt'),
                       np.concatenate([pts, normals], 1), fmt='%.6f', delimiter=',')
            splits['train' if i < per_class_train else 'test'].append(shape_id)
    with open(osp.join(root, 'modelnet40_shape_names.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    for split, ids in splits.items():
        with open(osp.join(root, f'modelnet40_{split}.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return splits
