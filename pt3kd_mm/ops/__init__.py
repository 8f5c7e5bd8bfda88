"""Point operations (the bottom layer, as ``mmcv.ops``): imported by models and datasets alike,
importing neither."""
from .point_ops import (farthest_point_sample, gather_points, group_points, knn_query,
                        nearest_neighbor_sq_dist)

__all__ = [
    'farthest_point_sample', 'gather_points', 'group_points', 'knn_query',
    'nearest_neighbor_sq_dist'
]
