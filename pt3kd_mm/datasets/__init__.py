from .modelnet40 import ModelNet40PointDataset
from .shapenet55 import ShapeNet55Dataset
from .transforms import *  # noqa: F401,F403

__all__ = ['ShapeNet55Dataset', 'ModelNet40PointDataset']
