from .chamfer_loss import PointChamferLoss, chamfer_distance_l1, chamfer_distance_l2

__all__ = ['PointChamferLoss', 'chamfer_distance_l1', 'chamfer_distance_l2']
