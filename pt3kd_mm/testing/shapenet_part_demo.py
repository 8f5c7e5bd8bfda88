"""Procedural shapes in the ShapeNetPart layout (``shapenetcore_partanno_segmentation_benchmark_
v0_normal``) for tests and demos; nothing is downloaded::

    OUT/synsetoffset2category.txt                  the 16 benchmark categories
    OUT/train_test_split/shuffled_{train,val,test}_file_list.json
    OUT/<synset>/<shape id>.txt                    rows 'x y z nx ny nz part_label'

A shape of a category with k parts is k boxes side by side along x (random sizes and offsets),
the surface points of box j labelled with the category's j-th part.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from ..utils.shapenet_part import SHAPENET_PART_CATEGORIES

SPLITS = ('train', 'val', 'test')


def _box_part(rng: np.random.Generator, n: int, center: np.ndarray,
              size: np.ndarray) -> np.ndarray:
    """n surface points of a box with outward face normals -> (n, 6)."""
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]]).repeat(2)
    face = rng.choice(6, size=n, p=areas / areas.sum())
    pts = rng.uniform(-0.5, 0.5, size=(n, 3))
    axis, sign = face // 2, np.where(face % 2 == 0, -1.0, 1.0)
    pts[np.arange(n), axis] = 0.5 * sign
    normals = np.zeros((n, 3))
    normals[np.arange(n), axis] = sign
    return np.concatenate([pts * size + center, normals], axis=1)


def make_part_shape(rng: np.random.Generator, parts: Sequence[int],
                    num_points: int) -> np.ndarray:
    """(num_points, 7) rows x y z nx ny nz part_label: one box per part along x."""
    k = len(parts)
    counts = rng.multinomial(num_points - k, np.ones(k) / k) + 1
    rows = []
    for j, (part, count) in enumerate(zip(parts, counts)):
        center = np.array([j - (k - 1) / 2, 0.0, 0.0]) * 0.9 + rng.uniform(-0.05, 0.05, 3)
        size = rng.uniform([0.5, 0.3, 0.3], [0.8, 0.9, 0.9])
        block = _box_part(rng, count, center, size)
        rows.append(np.concatenate([block, np.full((count, 1), part)], axis=1))
    return np.concatenate(rows)[rng.permutation(num_points)]


def create_shapenetpart_demo(out_dir: str,
                             categories: Sequence[str] = ('Airplane', 'Bag', 'Mug'),
                             per_split: Dict[str, int] = None,
                             num_points_range: Sequence[int] = (1500, 2600),
                             seed: int = 0) -> Dict[str, List[str]]:
    """Write the demo dataset; returns {split: [json entries]}.

    Args:
        out_dir: the dataset root (created).
        categories: benchmark category names to generate shapes for (all 16 are listed in
            synsetoffset2category.txt).
        per_split: shapes per category and split, default {'train': 2, 'val': 1, 'test': 1}.
        num_points_range: [low, high) points per shape (below 2048 too, as in the benchmark).
        seed: random seed.
    """
    per_split = per_split or dict(train=2, val=1, test=1)
    table = {name: (synset, parts) for name, synset, parts in SHAPENET_PART_CATEGORIES}
    unknown = [c for c in categories if c not in table]
    if unknown:
        raise KeyError(f'unknown ShapeNetPart categories {unknown}; choose from {list(table)}')
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, 'train_test_split'), exist_ok=True)
    with open(osp.join(out_dir, 'synsetoffset2category.txt'), 'w') as f:
        for name, synset, _ in SHAPENET_PART_CATEGORIES:
            f.write(f'{name}\t{synset}\n')
    entries = {split: [] for split in SPLITS}
    for name in categories:
        synset, parts = table[name]
        os.makedirs(osp.join(out_dir, synset), exist_ok=True)
        for split in SPLITS:
            for i in range(per_split.get(split, 0)):
                shape_id = f'{split}{name.lower()}{i:03d}'
                shape = make_part_shape(rng, parts, int(rng.integers(*num_points_range)))
                np.savetxt(osp.join(out_dir, synset, shape_id + '.txt'), shape,
                           fmt=['%.6f'] * 6 + ['%d'])
                entries[split].append(f'shape_data/{synset}/{shape_id}')
    for split in SPLITS:
        items = list(entries[split])
        rng.shuffle(items)
        with open(osp.join(out_dir, 'train_test_split', f'shuffled_{split}_file_list.json'),
                  'w') as f:
            json.dump(items, f)
    return entries
