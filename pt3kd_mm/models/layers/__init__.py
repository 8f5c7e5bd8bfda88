from .global_query import GlobalQueryBlock
from .patch_embed import MiniPointNetEmbed, center_pos_embed
from .point_ops import (farthest_point_sample, gather_points, group_points, knn_query,
                        nearest_neighbor_sq_dist)
from .transformer import PosAddedTransformer, drop_path_rates

__all__ = [
    'GlobalQueryBlock', 'MiniPointNetEmbed', 'center_pos_embed', 'farthest_point_sample',
    'gather_points', 'group_points', 'knn_query', 'nearest_neighbor_sq_dist',
    'PosAddedTransformer', 'drop_path_rates'
]
