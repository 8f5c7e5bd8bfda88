"""ModelNet40 / ModelNet10 in the layout Point-BERT, Point-MAE, ACT and ReCon read::

    data_root/                                   e.g. data/ModelNet/modelnet40_normal_resampled
      modelnet40_shape_names.txt                 one class name per line (label = line index)
      modelnet40_train.txt, modelnet40_test.txt  one shape id per line: <class>_<4 digits>
      modelnet10_shape_names.txt, modelnet10_{train,test}.txt   (num_categories=10)
      <class>/<class>_0001.txt                   rows 'x,y,z,nx,ny,nz' (10,000 points)
      modelnet40_{train,test}_8192pts_fps.dat    optional: the reference's preprocessed pickle
                                                 (processed_file=...)

Load the clouds with ``LoadPointCloudNpy`` (it reads the comma-separated .txt files); with
``processed_file`` the clouds come in memory (``points``) and the pipeline starts without it.
"""
import os.path as osp
import pickle
from typing import List, Optional, Sequence

import numpy as np

from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS


@DATASETS.register_module()
class ModelNet40PointDataset(BaseDataset):
    """ModelNet40 (or ModelNet10) object point clouds for classification and zero-shot tests.

    Args:
        data_root: the ``modelnet40_normal_resampled`` folder.
        split: 'train' or 'test'.
        num_categories: 40 or 10 (which ``modelnet{N}_*.txt`` files are read).
        processed_file: the reference's preprocessed pickle, relative to ``data_root``, e.g.
            ``'modelnet{num_categories}_{split}_8192pts_fps.dat'`` (``{split}`` and
            ``{num_categories}`` are filled in): ``[list of (N, 6) float arrays, list of (1, )
            int labels]`` in the order of the split file (Point-BERT / Point-MAE / ACT / ReCon
            write it once by farthest point sampling of the .txt files). Its clouds are held in
            memory; each label must agree with the split file's class. None (default): read
            the .txt files through the pipeline.
        use_dims: columns of the processed clouds kept in memory (xyz by default, as the
            reference's ``USE_NORMALS: False``).
        Other arguments as mmengine's ``BaseDataset`` (``ann_file`` is derived from
        ``split`` and ``num_categories``).

    data_info: pc_path (or, with ``processed_file``, points (N, len(use_dims)) float32),
    category (class index in the shape-names file), category_name, shape_id;
    metainfo['classes'] = the names of the shape-names file.
    """

    METAINFO = dict(classes=None)
    LAYOUT = ('ModelNet is expected in the Point-BERT layout <data_root>/modelnet{n}_shape_names'
              '.txt, <data_root>/modelnet{n}_{{train,test}}.txt and <data_root>/<class>/'
              '<class>_0001.txt (python tools/create_demo_data.py --modelnet40 --out DIR writes a '
              'small dataset in this layout)')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 num_categories: int = 40,
                 processed_file: Optional[str] = None,
                 use_dims: Sequence[int] = (0, 1, 2),
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if num_categories not in (10, 40):
            raise ValueError(f'num_categories must be 10 or 40, got {num_categories}')
        self.split = split
        self.num_categories = num_categories
        self.processed_file = processed_file
        self.use_dims = list(use_dims)
        kwargs.setdefault('ann_file', f'modelnet{num_categories}_{split}.txt')
        super().__init__(data_root=data_root, **kwargs)

    def _read_lines(self, path: str, what: str) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path} not found. '
                                    f'{self.LAYOUT.format(n=self.num_categories)}')
        with open(path) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        if not lines:
            raise ValueError(f'{what} file {path} is empty: it must list one '
                             f'{"class name" if what == "shape names" else "shape id"} per line. '
                             f'{self.LAYOUT.format(n=self.num_categories)}')
        return lines

    def load_data_list(self) -> List[dict]:
        names_file = osp.join(self.data_root, f'modelnet{self.num_categories}_shape_names.txt')
        classes = self._read_lines(names_file, 'shape names')
        label_of = {name: i for i, name in enumerate(classes)}
        self._metainfo['classes'] = tuple(classes)
        data_list = []
        for shape_id in self._read_lines(self.ann_file, 'split'):
            # class names may contain '_' (night_stand_0001): the id is the last part
            name, sep, number = shape_id.rpartition('_')
            if not sep or not number.isdigit():
                raise ValueError(f'{self.ann_file}: line {shape_id!r} is not of the form '
                                 f'<class>_<number>')
            if name not in label_of:
                raise KeyError(f'{self.ann_file}: class {name!r} of {shape_id} is not in '
                               f'{names_file}')
            data_list.append(
                dict(
                    pc_path=osp.join(self.data_root, name, shape_id + '.txt'),
                    category=label_of[name],
                    category_name=name,
                    shape_id=shape_id))
        if self.processed_file is not None:
            self._attach_processed(data_list)
        return data_list

    def _attach_processed(self, data_list: List[dict]) -> None:
        """Put the clouds of ``processed_file`` into ``data_list`` (as ``points``), checking
        their number and labels against the split file."""
        path = osp.join(self.data_root, self.processed_file.format(
            split=self.split, num_categories=self.num_categories))
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'processed ModelNet file {path} not found: take the reference\'s '
                f'modelnet{self.num_categories}_{self.split}_8192pts_fps.dat (Point-BERT / '
                f'Point-MAE DATASET.md) into {self.data_root}, or set processed_file=None to '
                f'read the .txt files')
        with open(path, 'rb') as f:
            content = pickle.load(f)
        if not (isinstance(content, (list, tuple)) and len(content) == 2):
            raise ValueError(f'{path}: expected [list of point arrays, list of labels] (the '
                             f'reference\'s pickle), got {type(content).__name__}')
        points, labels = content
        if len(points) != len(data_list) or len(labels) != len(data_list):
            raise ValueError(f'{path} holds {len(points)} clouds and {len(labels)} labels but '
                             f'{self.ann_file} lists {len(data_list)} shapes')
        for i, (info, cloud, label) in enumerate(zip(data_list, points, labels)):
            label = int(np.asarray(label).reshape(-1)[0])
            if label != info['category']:
                raise ValueError(f'{path}: entry {i} has label {label} but {self.ann_file} '
                                 f'says {info["shape_id"]} (class {info["category"]})')
            cloud = np.asarray(cloud, dtype=np.float32)
            if cloud.ndim != 2 or cloud.shape[1] <= max(self.use_dims):
                raise ValueError(f'{path}: entry {i} has shape {cloud.shape}; expected (N, C) '
                                 f'with C > {max(self.use_dims)}')
            info['points'] = np.ascontiguousarray(cloud[:, self.use_dims])
            info['pc_path'] = f'{path}[{i}]'  # where errors point to
