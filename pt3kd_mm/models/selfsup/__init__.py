from .point_mae import PointMAE

__all__ = ['PointMAE']
