from .base_teacher import ConfigModelTeacher, FrozenTeacher
from .clip_teachers import CLIPImageTeacher, CLIPTextTeacher
from .clipcap_teacher import ClipCapPrefixTeacher
from .frozen_vit_blocks import FrozenViTBlocks
from .sentence_text_teacher import SentenceTextTeacher
from .teacher_set import TeacherSet
from .vit_image_teacher import DINOv2ImageTeacher, ViTImageTeacher

__all__ = ['CLIPImageTeacher', 'CLIPTextTeacher', 'ClipCapPrefixTeacher', 'ConfigModelTeacher',
           'DINOv2ImageTeacher', 'FrozenTeacher', 'FrozenViTBlocks', 'SentenceTextTeacher', 'TeacherSet',
           'ViTImageTeacher']
