from .cosine_distill_head import CosineDistillHead
from .global_align_head import GlobalAlignHead
from .part_seg_head import PointPartSegHead
from .patch_align_head import PatchAlignHead, uv_to_grid_cell
from .point_reconstruction_head import PointReconstructionHead
from .prefix_align_head import PrefixAlignHead
from .scene_seg_head import PointSceneSegHead

__all__ = ['CosineDistillHead', 'GlobalAlignHead', 'PatchAlignHead', 'PointReconstructionHead',
           'PointPartSegHead', 'PointSceneSegHead', 'PrefixAlignHead', 'uv_to_grid_cell']
