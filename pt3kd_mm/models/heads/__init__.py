from .cosine_distill_head import CosineDistillHead
from .global_align_head import GlobalAlignHead
from .part_seg_head import PointPartSegHead
from .point_reconstruction_head import PointReconstructionHead
from .scene_seg_head import PointSceneSegHead

__all__ = ['CosineDistillHead', 'GlobalAlignHead', 'PointReconstructionHead', 'PointPartSegHead',
           'PointSceneSegHead']
