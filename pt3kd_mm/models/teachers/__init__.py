from .base_teacher import ConfigModelTeacher, FrozenTeacher
from .clip_teachers import CLIPImageTeacher, CLIPTextTeacher
from .clipcap_teacher import ClipCapPrefixTeacher
from .frozen_vit_blocks import FrozenViTBlocks
from .teacher_set import TeacherSet
from .vit_image_teacher import ViTImageTeacher

__all__ = ['CLIPImageTeacher', 'CLIPTextTeacher', 'ClipCapPrefixTeacher', 'ConfigModelTeacher',
           'FrozenTeacher', 'FrozenViTBlocks', 'TeacherSet', 'ViTImageTeacher']
