from .global_query import GlobalQueryBlock
from .patch_embed import MiniPointNetEmbed, center_pos_embed
from .transformer import PosAddedTransformer, drop_path_rates

__all__ = ['GlobalQueryBlock', 'MiniPointNetEmbed', 'center_pos_embed', 'PosAddedTransformer',
           'drop_path_rates']
