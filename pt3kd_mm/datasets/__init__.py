from .shapenet55 import ShapeNet55Dataset
from .transforms import *  # noqa: F401,F403

__all__ = ['ShapeNet55Dataset']
