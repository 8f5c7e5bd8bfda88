from .point_reconstruction_head import PointReconstructionHead

__all__ = ['PointReconstructionHead']
