from .cosine_distill_head import CosineDistillHead
from .point_reconstruction_head import PointReconstructionHead

__all__ = ['CosineDistillHead', 'PointReconstructionHead']
