from .feature_propagation import CenterFeaturePropagation
from .global_query import GlobalQueryBlock
from .patch_embed import MiniPointNetEmbed, center_pos_embed
from .transformer import PosAddedTransformer, RenormResidualBlock, drop_path_rates

__all__ = ['CenterFeaturePropagation', 'GlobalQueryBlock', 'MiniPointNetEmbed', 'center_pos_embed',
           'PosAddedTransformer', 'RenormResidualBlock', 'drop_path_rates']
