"""Loading mmengine checkpoints under torch >= 2.6, where ``torch.load`` defaults to
``weights_only=True``.

mmengine 0.10.7 calls ``torch.load(filename)`` for local files, which then refuses the objects
mmengine itself writes into every checkpoint (the message hub's ``HistoryBuffer``, numpy arrays
and scalars in logs). Instead of turning the safe loader off:

* the local loader is replaced by one that keeps ``weights_only=True`` and allows exactly those
  mmengine / numpy types (and mmengine's ``ConfigDict``, a plain dict subclass that mmdet3d's
  segmentation datasets put into ``meta['dataset_meta']``); any other pickled object is refused
  with an error naming the file;
* ``HistoryBuffer`` no longer pickles its class-level table of statistics functions (pickled as
  ``getattr(HistoryBuffer, 'min')``, which a safe unpickler must refuse); ``__setstate__``
  re-creates that table on load, so nothing is lost.
"""
import os.path as osp
from typing import Any

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


def _allowed_globals() -> list:
    allowed = [HistoryBuffer, ConfigDict, np.ndarray, np.dtype, np.core.multiarray._reconstruct,
               np.core.multiarray.scalar]
    # numpy scalar and dtype classes (np.float64, np.dtypes.Float64DType, ...)
    for name in ('bool_', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                 'uint64', 'float16', 'float32', 'float64', 'str_', 'bytes_'):
        scalar = getattr(np, name)
        allowed += [scalar, type(np.dtype(scalar))]
    return allowed


def load_local_checkpoint(filename: str, map_location: Any = None) -> Any:
    """Load a local checkpoint with ``weights_only=True`` and mmengine's own types allowed."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist; check the path in '
                                f'the config (load_from / init_cfg.checkpoint / --resume)')
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError on corrupt files
        raise RuntimeError(
            f'cannot load checkpoint {filename}: {err}\nIt is either not a PyTorch checkpoint '
            f'or it pickles objects other than tensors, containers, numpy arrays and '
            f"mmengine's HistoryBuffer / ConfigDict. Re-save only its state_dict with "
            f'torch.save.') from err


def _history_buffer_getstate(self) -> dict:
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def register_checkpoint_loader() -> None:
    """Make ``load_local_checkpoint`` mmengine's loader for local paths and make the message
    hub's buffers safe to unpickle (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    HistoryBuffer.__getstate__ = _history_buffer_getstate
