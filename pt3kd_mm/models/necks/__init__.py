from .point_mae_decoder import PointMAEDecoder

__all__ = ['PointMAEDecoder']
