from .point_patch_transformer import PointPatchTransformer

__all__ = ['PointPatchTransformer']
