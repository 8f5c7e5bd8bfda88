"""Few-shot ModelNet40 folds in the layout of Point-BERT / Point-MAE / ACT / ReCon::

    data_root/                           e.g. data/ModelNetFewshot
      {way}way_{shot}shot/{fold}.pkl     {'train': [(points (N, 3+), label, class), ...],
                                          'test': [...]}

``label`` is the class's index among the fold's ``way`` classes (0..way-1), ``class`` its
ModelNet40 index. The reference's files (``datasets/generate_few_shot_data.py``) and the ones
``tools/fewshot.py`` writes have this layout.
"""
import os.path as osp
import pickle
from typing import List

import numpy as np
from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS


def fold_path(data_root: str, way: int, shot: int, fold: int) -> str:
    """``data_root/{way}way_{shot}shot/{fold}.pkl``."""
    return osp.join(data_root, f'{way}way_{shot}shot', f'{fold}.pkl')


def read_fold(path: str) -> dict:
    """The ``{'train': [...], 'test': [...]}`` of a fold file, checked."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'few-shot fold file {path} not found: write the folds with tools/fewshot.py '
            f'(--folds-dir) or take the reference\'s ModelNetFewshot folder')
    with open(path, 'rb') as f:
        fold = pickle.load(f)
    if not isinstance(fold, dict) or not {'train', 'test'} <= set(fold):
        raise ValueError(f'{path}: expected a dict with train and test lists, got '
                         f'{sorted(fold) if isinstance(fold, dict) else type(fold).__name__}')
    for split in ('train', 'test'):
        for i, row in enumerate(fold[split]):
            if not (isinstance(row, (tuple, list)) and len(row) == 3):
                raise ValueError(f'{path}: {split}[{i}] is not (points, label, class)')
    return fold


@DATASETS.register_module()
class ModelNet40FewShotDataset(BaseDataset):
    """One fold of the few-shot ModelNet40 protocol.

    Args:
        data_root: the folds folder (``ModelNetFewshot``).
        way / shot / fold: which file (``{way}way_{shot}shot/{fold}.pkl``).
        split: 'train' or 'test' (the fold's ``way`` x 20 test shapes, which the reference
            validates on).
        use_dims: columns of the clouds kept (xyz by default).

    data_info: points (N, len(use_dims)) float32, category (0..way-1), modelnet_category,
    sample_idx.
    """

    METAINFO = dict(classes=None)

    def __init__(self, data_root: str, way: int, shot: int, fold: int, split: str = 'train',
                 use_dims=(0, 1, 2), **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.way, self.shot, self.fold, self.split = way, shot, fold, split
        self.use_dims = list(use_dims)
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        path = fold_path(self.data_root, self.way, self.shot, self.fold)
        rows = read_fold(path)[self.split]
        if not rows:
            raise ValueError(f'{path}: the {self.split!r} list of the fold is empty; write the '
                             f'folds again with tools/fewshot.py (--folds-dir)')
        self._metainfo['classes'] = tuple(str(i) for i in range(self.way))
        data_list = []
        for i, (points, label, category) in enumerate(rows):
            points = np.asarray(points, dtype=np.float32)
            if points.ndim != 2 or points.shape[1] <= max(self.use_dims):
                raise ValueError(f'{path}: {self.split}[{i}] has shape {points.shape}')
            if not 0 <= int(label) < self.way:
                raise ValueError(f'{path}: {self.split}[{i}] has label {label}, outside '
                                 f'0..{self.way - 1}')
            data_list.append(
                dict(points=np.ascontiguousarray(points[:, self.use_dims]),
                     category=int(label), modelnet_category=int(np.asarray(category).flat[0]),
                     sample_idx=i, pc_path=f'{path}[{self.split}][{i}]'))
        return data_list
