"""Paired ScanNet v2 RGB-D frames (point cloud + colour image) for concept distillation
pre-training, in the layout of ``tools/dataset_converters/scannet_frames.py``::

    data_root/frames/<scene>/<scene>_<frame:06d>.npy   (M, 6) float32 x y z r g b, the depth
                                                       camera frame (x right, y down, z
                                                       forward), metres
    data_root/frames/<scene>/<scene>_<frame:06d>.jpg   the colour image
    data_root/scannet_frames_infos_{train,val}.pkl     dict(metainfo, data_list)
"""
import os.path as osp
from typing import List

import mmengine
import numpy as np
from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS

#: the keys every pair info holds (written by the converter)
PAIR_INFO_KEYS = ('scene_id', 'frame_id', 'pc_path', 'img_path', 'num_points', 'img_shape',
                  'depth2img', 'cam2world')
_HOW_TO_MAKE = ('write it with python tools/dataset_converters/scannet_frames.py --sens-root '
                '<ScanNet>/scans --split-dir <dir with scannetv2_{train,val}.txt> --out '
                '<data_root> (or python tools/create_demo_data.py --scannet-frames for a small '
                'synthetic one)')


@DATASETS.register_module()
class ScanNetFramePairDataset(BaseDataset):
    """(point cloud, image) pairs of ScanNet frames.

    Args:
        data_root: the converter's output root.
        ann_file: info file relative to ``data_root``
            ('scannet_frames_infos_train.pkl' / '..._val.pkl').
        Other arguments as mmengine's ``BaseDataset``.

    data_info (per pair, paths joined with ``data_root``): scene_id (str), frame_id (int),
    pc_path, img_path, num_points (int), img_shape ((H, W) of the colour image), depth2img
    ((4, 4) float32: homogeneous depth-camera coordinates -> colour pixel coordinates),
    cam2world ((4, 4) float32), plus sample_idx.

    Raises:
        FileNotFoundError: the info file is missing (naming it and how to write it).
        KeyError / ValueError: the file is not the converter's (naming the file and the
            missing key).
    """

    METAINFO = dict(dataset='ScanNetFramePairs')

    def __init__(self, data_root: str, ann_file: str = 'scannet_frames_infos_train.pkl',
                 **kwargs) -> None:
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'ScanNet frame-pair info file {self.ann_file} not found: '
                                    f'{_HOW_TO_MAKE}')
        content = mmengine.load(self.ann_file)
        if not isinstance(content, dict) or 'data_list' not in content:
            raise ValueError(f'{self.ann_file} is not a frame-pair info file (expected a dict '
                             f'with metainfo and data_list); {_HOW_TO_MAKE}')
        for key, value in (content.get('metainfo') or {}).items():
            self._metainfo.setdefault(key, value)
        data_list = []
        for i, raw in enumerate(content['data_list']):
            missing = [k for k in PAIR_INFO_KEYS if k not in raw]
            if missing:
                raise KeyError(f'{self.ann_file}: pair {i} has no {missing} (keys: '
                               f'{sorted(raw)}); re-run the converter')
            data_list.append(self.parse_data_info(raw))
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict:
        info = dict(raw_data_info)
        info['pc_path'] = osp.join(self.data_root, info['pc_path'])
        info['img_path'] = osp.join(self.data_root, info['img_path'])
        info['img_shape'] = tuple(int(s) for s in info['img_shape'])
        info['depth2img'] = np.asarray(info['depth2img'], np.float32)
        info['cam2world'] = np.asarray(info['cam2world'], np.float32)
        return info
