"""ScanObjectNN (h5_files of the official release) in the layout Point-BERT, Point-MAE, ACT and
ReCon read::

    data_root/                                        e.g. data/ScanObjectNN
      main_split/training_objectdataset.h5            OBJ-BG   (test_objectdataset.h5)
      main_split_nobg/training_objectdataset.h5       OBJ-ONLY (test_objectdataset.h5)
      main_split/training_objectdataset_augmentedrot_scale75.h5   PB-T50-RS, the hardest
                                                      (test_objectdataset_augmentedrot_scale75.h5)

Each file holds ``data`` (M, 2048, 3) float and ``label`` (M, ) int (15 classes). The clouds are
held in memory as the reference does (no normalisation: the files are already centred and
scaled).
"""
import os.path as osp
from typing import List

import numpy as np
from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS

#: variant -> (sub-folder, file stem); files are ``{training,test}_{stem}.h5``
VARIANTS = {
    'OBJ_BG': ('main_split', 'objectdataset'),
    'OBJ_ONLY': ('main_split_nobg', 'objectdataset'),
    'PB_T50_RS': ('main_split', 'objectdataset_augmentedrot_scale75'),
}
CLASSES = ('bag', 'bin', 'box', 'cabinet', 'chair', 'desk', 'display', 'door', 'shelf', 'table',
           'bed', 'pillow', 'sink', 'sofa', 'toilet')


def scanobjectnn_file(data_root: str, variant: str, split: str) -> str:
    """The h5 file of ``variant`` ('OBJ_BG', 'OBJ_ONLY', 'PB_T50_RS') and ``split``."""
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {sorted(VARIANTS)}, got {variant!r}')
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder, stem = VARIANTS[variant]
    prefix = 'training' if split == 'train' else 'test'
    return osp.join(data_root, folder, f'{prefix}_{stem}.h5')


@DATASETS.register_module()
class ScanObjectNNDataset(BaseDataset):
    """ScanObjectNN object clouds for classification.

    Args:
        data_root: the folder holding ``main_split`` / ``main_split_nobg``.
        split: 'train' or 'test'.
        variant: 'OBJ_BG', 'OBJ_ONLY' or 'PB_T50_RS' (the hardest).
        Other arguments as mmengine's ``BaseDataset``.

    data_info: points (2048, 3) float32, category (0..14), category_name, sample_idx;
    metainfo['classes'] = the 15 ScanObjectNN class names.
    """

    METAINFO = dict(classes=CLASSES)

    def __init__(self, data_root: str, split: str = 'train', variant: str = 'PB_T50_RS',
                 **kwargs) -> None:
        self.split = split
        self.variant = variant
        self.h5_path = scanobjectnn_file(data_root, variant, split)
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        import h5py  # only ScanObjectNN needs it
        if not osp.isfile(self.h5_path):
            raise FileNotFoundError(
                f'ScanObjectNN file {self.h5_path} not found: download the h5_files of '
                f'ScanObjectNN and put main_split/ and main_split_nobg/ under {self.data_root}')
        with h5py.File(self.h5_path, 'r') as f:
            for key in ('data', 'label'):
                if key not in f:
                    raise KeyError(f'{self.h5_path} has no {key!r} dataset (it has '
                                   f'{sorted(f.keys())})')
            points = np.asarray(f['data'], dtype=np.float32)
            labels = np.asarray(f['label']).reshape(-1).astype(np.int64)
        if points.ndim != 3 or points.shape[2] < 3 or len(points) != len(labels):
            raise ValueError(f'{self.h5_path}: data {points.shape} and label {labels.shape} '
                             f'are not (M, N, 3+) and (M, )')
        if not len(labels):
            raise ValueError(f'{self.h5_path} holds no samples (data {points.shape}); take '
                             f'the file again from the ScanObjectNN h5_files release')
        num_classes = len(self.metainfo['classes'])
        bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if bad.size:
            raise ValueError(f'{self.h5_path}: label {labels[bad[0]]} of sample {bad[0]} is '
                             f'outside 0..{num_classes - 1}')
        names = self.metainfo['classes']
        return [
            dict(points=np.ascontiguousarray(points[i, :, :3]), category=int(labels[i]),
                 category_name=names[labels[i]], sample_idx=i,
                 pc_path=f'{self.h5_path}[{i}]')
            for i in range(len(labels))
        ]
