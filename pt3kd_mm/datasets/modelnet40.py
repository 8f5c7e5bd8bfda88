"""ModelNet40 / ModelNet10 in the layout Point-BERT, Point-MAE, ACT and ReCon read::

    data_root/                                   e.g. data/ModelNet/modelnet40_normal_resampled
      modelnet40_shape_names.txt                 one class name per line (label = line index)
      modelnet40_train.txt, modelnet40_test.txt  one shape id per line: <class>_<4 digits>
      modelnet10_shape_names.txt, modelnet10_{train,test}.txt   (num_categories=10)
      <class>/<class>_0001.txt                   rows 'x,y,z,nx,ny,nz' (10,000 points)

Load the clouds with ``LoadPointCloudNpy`` (it reads the comma-separated .txt files).
"""
import os.path as osp
from typing import List

from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS


@DATASETS.register_module()
class ModelNet40PointDataset(BaseDataset):
    """ModelNet40 (or ModelNet10) object point clouds for classification and zero-shot tests.

    Args:
        data_root: the ``modelnet40_normal_resampled`` folder.
        split: 'train' or 'test'.
        num_categories: 40 or 10 (which ``modelnet{N}_*.txt`` files are read).
        Other arguments as mmengine's ``BaseDataset`` (``ann_file`` is derived from
        ``split`` and ``num_categories``).

    data_info: pc_path, category (class index in the shape-names file), category_name;
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
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if num_categories not in (10, 40):
            raise ValueError(f'num_categories must be 10 or 40, got {num_categories}')
        self.split = split
        self.num_categories = num_categories
        kwargs.setdefault('ann_file', f'modelnet{num_categories}_{split}.txt')
        super().__init__(data_root=data_root, **kwargs)

    def _read_lines(self, path: str, what: str) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path} not found. '
                                    f'{self.LAYOUT.format(n=self.num_categories)}')
        with open(path) as f:
            return [ln.strip() for ln in f if ln.strip()]

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
                    category_name=name))
        return data_list
