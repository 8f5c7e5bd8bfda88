"""Point operations (the bottom layer, as ``mmcv.ops``): imported by models and datasets alike,
importing neither."""
from .interpolate import three_nn, three_nn_interpolate
from .point_ops import (ball_query, farthest_point_sample, gather_points, group_points, knn_query,
                        nearest_neighbor_sq_dist)

__all__ = [
    'ball_query', 'farthest_point_sample', 'gather_points', 'group_points', 'knn_query',
    'nearest_neighbor_sq_dist', 'three_nn', 'three_nn_interpolate'
]
