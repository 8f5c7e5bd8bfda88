from .point_patch_transformer import PointPatchTransformer
from .recon_point_transformer import ReConPointTransformer

__all__ = ['PointPatchTransformer', 'ReConPointTransformer']
