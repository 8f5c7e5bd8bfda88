from .base_teacher import ConfigModelTeacher, FrozenTeacher
from .frozen_vit_blocks import FrozenViTBlocks

__all__ = ['ConfigModelTeacher', 'FrozenTeacher', 'FrozenViTBlocks']
