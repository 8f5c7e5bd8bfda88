from .checkpoint import load_local_checkpoint, register_checkpoint_loader

__all__ = ['load_local_checkpoint', 'register_checkpoint_loader']
