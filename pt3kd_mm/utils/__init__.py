from .checkpoint import load_local_checkpoint, register_checkpoint_loader
from .precision import PRECISIONS, autocast_dtype, cpu_has_native_bf16

__all__ = ['load_local_checkpoint', 'register_checkpoint_loader', 'PRECISIONS',
           'autocast_dtype', 'cpu_has_native_bf16']
