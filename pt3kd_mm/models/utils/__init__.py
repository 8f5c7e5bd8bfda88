from .derived_cfg import derive_part_cfg
from .masking import block_group_mask, num_masked, random_group_mask
from .weight_init import POINT_TRANSFORMER_INIT_CFG, default_init_cfg

__all__ = ['block_group_mask', 'derive_part_cfg', 'num_masked', 'random_group_mask',
           'POINT_TRANSFORMER_INIT_CFG', 'default_init_cfg']
