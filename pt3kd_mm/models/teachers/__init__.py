from .base_teacher import ConfigModelTeacher, FrozenTeacher
from .clip_teachers import CLIPImageTeacher, CLIPTextTeacher, ViTImageTeacher
from .frozen_vit_blocks import FrozenViTBlocks

__all__ = ['CLIPImageTeacher', 'CLIPTextTeacher', 'ConfigModelTeacher', 'FrozenTeacher',
           'FrozenViTBlocks', 'ViTImageTeacher']
