"""ShapeNet-55 in the Point-BERT layout its users already have::

    data_root/
      ShapeNet-55/train.txt, test.txt   one file name per line: <synset>-<model_id>.npy
      ShapeNet-55/taxonomy.json         optional: [{"synset": ..., "name": ...}, ...]
      shapenet_pc/<synset>-<model_id>.npy   (8192, 3) float points
      shapenet_img/<synset>-<model_id>.png  optional rendered view (ReCon layout)
"""
import json
import os.path as osp
from typing import List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS


@DATASETS.register_module()
class ShapeNet55Dataset(BaseDataset):
    """ShapeNet-55 object point clouds for pre-training.

    Args:
        data_root: the folder that holds ``ShapeNet-55/`` and ``shapenet_pc/``.
        ann_file: split file relative to ``data_root``, e.g. 'ShapeNet-55/train.txt', or a
            list of them, read in order (e.g. train + test, as ACT pre-trains).
        data_prefix: folders of the clouds (``pts``) and rendered views (``img``).
        taxonomy_file: optional json (relative to ``data_root``) mapping synsets to names;
            without it the synset id is the class name.
        Other arguments as mmengine's ``BaseDataset``.

    Class ids are the index of the synset in the taxonomy file or, without it, in the sorted
    synsets of all split files next to ``ann_file``, so train and test agree.
    """

    METAINFO = dict(classes=None)

    def __init__(self,
                 data_root: str,
                 ann_file: Union[str, Sequence[str]] = 'ShapeNet-55/train.txt',
                 data_prefix: Optional[dict] = None,
                 taxonomy_file: str = 'ShapeNet-55/taxonomy.json',
                 **kwargs) -> None:
        self.taxonomy_file = taxonomy_file
        if isinstance(ann_file, (list, tuple)):
            if not ann_file:
                raise ValueError('ann_file is an empty list of split files')
            ann_file, self.extra_ann_files = ann_file[0], list(ann_file[1:])
        else:
            self.extra_ann_files = []
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix or dict(pts='shapenet_pc', img='shapenet_img'),
            **kwargs)

    @staticmethod
    def _read_split(path: str) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'split file {path} not found. ShapeNet-55 is expected in the Point-BERT '
                f'layout: <data_root>/ShapeNet-55/{{train,test}}.txt and '
                f'<data_root>/shapenet_pc/<synset>-<id>.npy (python tools/create_demo_data.py '
                f'writes a small dataset in this layout).')
        with open(path) as f:
            names = [ln.strip() for ln in f if ln.strip()]
        for ln in names:
            if '-' not in ln or not ln.endswith('.npy'):
                raise ValueError(f'{path}: line {ln!r} is not of the form <synset>-<id>.npy')
        return names

    def _taxonomy(self) -> List[dict]:
        tax_path = osp.join(self.data_root, self.taxonomy_file) if self.taxonomy_file else ''
        if tax_path and osp.isfile(tax_path):
            with open(tax_path) as f:
                return json.load(f)
        split_dir = osp.dirname(self.ann_file)
        synsets = set()
        for name in ('train.txt', 'test.txt', osp.basename(self.ann_file)):
            path = osp.join(split_dir, name)
            if osp.isfile(path):
                synsets.update(ln.split('-')[0] for ln in self._read_split(path))
        return [dict(synset=s, name=s) for s in sorted(synsets)]

    def load_data_list(self) -> List[dict]:
        names = self._read_split(self.ann_file)
        for extra in self.extra_ann_files:
            names += self._read_split(osp.join(self.data_root, extra))
        taxonomy = self._taxonomy()
        label_of = {t['synset']: i for i, t in enumerate(taxonomy)}
        self._metainfo['classes'] = tuple(t['name'] for t in taxonomy)
        self._metainfo['synsets'] = tuple(t['synset'] for t in taxonomy)
        data_list = []
        for name in names:
            synset, model_id = name[:-len('.npy')].split('-', 1)
            if synset not in label_of:
                raise KeyError(f'{self.ann_file}: synset {synset} of {name} is not in the '
                               f'taxonomy {self.taxonomy_file}')
            label = label_of[synset]
            data_list.append(
                dict(
                    pc_path=osp.join(self.data_prefix['pts'], name),
                    img_path=osp.join(self.data_prefix.get('img', ''), name[:-4] + '.png'),
                    synset=synset,
                    model_id=model_id,
                    category=label,
                    category_name=taxonomy[label]['name']))
        return data_list
