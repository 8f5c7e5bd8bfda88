from .chamfer_loss import (PointChamferLoss, chamfer_distance, chamfer_distance_l1,
                           chamfer_distance_l2)
from .info_nce_loss import SymmetricInfoNCELoss, symmetric_info_nce

__all__ = [
    'PointChamferLoss', 'SymmetricInfoNCELoss', 'chamfer_distance', 'chamfer_distance_l1',
    'chamfer_distance_l2', 'symmetric_info_nce'
]
