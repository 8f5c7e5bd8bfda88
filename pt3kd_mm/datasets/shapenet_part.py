"""ShapeNetPart in the layout Point-MAE, ACT and ReCon read
(``shapenetcore_partanno_segmentation_benchmark_v0_normal``)::

    data_root/
      synsetoffset2category.txt                  '<Category>\t<synset>' per line, 16 lines
      train_test_split/shuffled_{train,val,test}_file_list.json
                                                 ["shape_data/<synset>/<shape id>", ...]
      <synset>/<shape id>.txt                    rows 'x y z nx ny nz part_label'

Load the shapes with ``LoadShapeNetPartPoints``. Part labels are global (0..49); category ``c``
owns the labels ``SHAPENET_PART_CATEGORY_PARTS[c]``.
"""
import json
import os.path as osp
from typing import List, Tuple

from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS

from ..utils.shapenet_part import (SHAPENET_PART_CATEGORIES, SHAPENET_PART_CATEGORY_PARTS,
                                   SHAPENET_PART_CLASSES, SHAPENET_PART_NUM_PARTS)

SPLIT_FILES = dict(
    train=('shuffled_train_file_list.json', ),
    val=('shuffled_val_file_list.json', ),
    trainval=('shuffled_train_file_list.json', 'shuffled_val_file_list.json'),
    test=('shuffled_test_file_list.json', ))


@DATASETS.register_module()
class ShapeNetPartDataset(BaseDataset):
    """ShapeNetPart shapes with per-point part labels (16 categories, 50 parts).

    Args:
        data_root: the ``shapenetcore_partanno_segmentation_benchmark_v0_normal`` folder.
        split: 'train', 'val', 'trainval' (the reference's training set) or 'test' (its
            evaluation set).
        Other arguments as mmengine's ``BaseDataset``.

    data_info: pc_path, category (index in synsetoffset2category.txt, which must list the 16
    categories in the benchmark's order), category_name, shape_id, parts (the category's part
    labels). Shapes are ordered by category, then shape id (as the reference's listing).
    metainfo: classes (category names), category_parts, num_parts.
    """

    METAINFO = dict(
        classes=SHAPENET_PART_CLASSES,
        category_parts=SHAPENET_PART_CATEGORY_PARTS,
        num_parts=SHAPENET_PART_NUM_PARTS)
    LAYOUT = ('ShapeNetPart is expected in the layout of shapenetcore_partanno_segmentation_'
              'benchmark_v0_normal: <data_root>/synsetoffset2category.txt, <data_root>/'
              'train_test_split/shuffled_{train,val,test}_file_list.json and <data_root>/'
              '<synset>/<shape id>.txt (see docs/part_segmentation.md)')

    def __init__(self, data_root: str, split: str = 'trainval', **kwargs) -> None:
        if split not in SPLIT_FILES:
            raise ValueError(f'split must be one of {sorted(SPLIT_FILES)}, got {split!r}')
        self.split = split
        super().__init__(data_root=data_root, **kwargs)

    def _check_file(self, path: str, what: str) -> None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} {path} not found. {self.LAYOUT}')

    def _read_categories(self) -> List[Tuple[str, str]]:
        path = osp.join(self.data_root, 'synsetoffset2category.txt')
        self._check_file(path, 'category file')
        with open(path) as f:
            rows = [ln.split() for ln in f if ln.strip()]
        bad = [r for r in rows if len(r) != 2]
        if bad:
            raise ValueError(f'{path}: lines must be "<Category> <synset>", got {bad[0]}')
        expected = [(name, synset) for name, synset, _ in SHAPENET_PART_CATEGORIES]
        if [tuple(r) for r in rows] != expected:
            raise ValueError(
                f'{path} lists {[tuple(r) for r in rows]}; the category labels and the part '
                f'labels of each category are those of the benchmark, whose file lists '
                f'{expected} in this order')
        return expected

    def load_data_list(self) -> List[dict]:
        categories = self._read_categories()
        label_of_synset = {synset: i for i, (_, synset) in enumerate(categories)}
        entries = set()
        for name in SPLIT_FILES[self.split]:
            path = osp.join(self.data_root, 'train_test_split', name)
            self._check_file(path, 'split file')
            with open(path) as f:
                items = json.load(f)
            for item in items:
                parts = item.split('/')
                if len(parts) != 3 or parts[1] not in label_of_synset:
                    raise ValueError(f'{path}: entry {item!r} is not of the form '
                                     f'shape_data/<synset>/<shape id> with a synset of '
                                     f'synsetoffset2category.txt')
                entries.add((label_of_synset[parts[1]], parts[1], parts[2]))
        data_list, missing = [], []
        for label, synset, shape_id in sorted(entries):
            pc_path = osp.join(self.data_root, synset, shape_id + '.txt')
            if not osp.isfile(pc_path):
                missing.append(pc_path)
                continue
            data_list.append(
                dict(pc_path=pc_path, category=label, category_name=categories[label][0],
                     shape_id=shape_id, parts=SHAPENET_PART_CATEGORY_PARTS[label]))
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} shape file(s) of the {self.split!r} split are missing, e.g. '
                f'{missing[:3]}. {self.LAYOUT}')
        if not data_list:
            raise ValueError(f'the {self.split!r} split of {self.data_root} lists no shapes')
        return data_list
