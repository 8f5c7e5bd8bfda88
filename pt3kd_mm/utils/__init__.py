from .checkpoint import (CheckedPretrainedInit, CheckpointMismatchError, load_checkpoint_checked,
                         load_local_checkpoint, load_state_dict_checked,
                         register_checkpoint_loader)
from .precision import PRECISIONS, autocast_dtype, cpu_has_native_bf16

__all__ = ['CheckedPretrainedInit', 'CheckpointMismatchError', 'load_checkpoint_checked',
           'load_local_checkpoint', 'load_state_dict_checked', 'register_checkpoint_loader',
           'PRECISIONS', 'autocast_dtype', 'cpu_has_native_bf16']
