from .masking import block_group_mask, num_masked, random_group_mask

__all__ = ['block_group_mask', 'num_masked', 'random_group_mask']
