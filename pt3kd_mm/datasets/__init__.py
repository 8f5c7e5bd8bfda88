from .modelnet40 import ModelNet40PointDataset
from .modelnet_fewshot import ModelNet40FewShotDataset
from .scannet_frames import ScanNetFramePairDataset
from .scanobjectnn import ScanObjectNNDataset
from .shapenet55 import ShapeNet55Dataset
from .shapenet_part import ShapeNetPartDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['ShapeNet55Dataset', 'ShapeNetPartDataset', 'ModelNet40PointDataset',
           'ModelNet40FewShotDataset', 'ScanObjectNNDataset', 'ScanNetFramePairDataset']
