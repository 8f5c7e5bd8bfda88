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

Loading weights into a model is checked (mmengine only warns, and a wrong checkpoint then
trains or tests from a partly random model):

* ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)`` is replaced (same name, so
  every config keeps working) by :class:`CheckedPretrainedInit`, and ``tools/test.py`` loads its
  checkpoint with :func:`load_checkpoint_checked`. Both refuse, with
  :class:`CheckpointMismatchError` naming the file, the prefix and the keys (the first few and
  the count), a checkpoint with

  - a tensor whose shape differs from the model's (size mismatch), or
  - a key of the part being loaded (the whole model; the module that owns the ``init_cfg``,
    e.g. the backbone with ``prefix='backbone.'``) that the checkpoint lacks. Exempt: BatchNorm
    ``num_batches_tracked`` (as in mmengine) and, for ``Pretrained`` only, the keys a module
    lists in its ``optional_pretrained_keys`` (the fine-tuning encoder's CLS token and its
    position, which a Point-MAE pre-training does not have; they keep their initialisation).

  Keys of the checkpoint that the model does not use (a pre-training's decoder, another
  algorithm's CLS token) are logged as a warning only.
* The opt-out, for experts: ``init_cfg=dict(type='Pretrained', ..., strict=False)`` and
  ``tools/test.py --non-strict`` load what fits and warn, as mmengine does.
"""
import logging
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Iterable, List, Optional, Set, Tuple

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.runner.checkpoint import load_state_dict as mmengine_load_state_dict
from torch import nn
from torch.nn.modules.module import _IncompatibleKeys


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


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose tensors do not fit the model being loaded (size mismatches, missing
    keys, or no key under the requested prefix)."""


_SIZE_MISMATCH = re.compile(r'size mismatch for (\S+): copying a param with shape '
                            r'torch\.Size\(\[([^\]]*)\]\) from checkpoint, the shape in '
                            r'current model is torch\.Size\(\[([^\]]*)\]\)')


def _short(items: List[str], shown: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e, ... (28 in all)'."""
    text = ', '.join(items[:shown])
    return f'{text}, ... ({len(items)} in all)' if len(items) > shown else text


def _load_collecting(module: nn.Module,
                     state_dict: dict) -> Tuple[List[str], List[str], List[str]]:
    """Copy ``state_dict`` into ``module`` as mmengine's ``load_state_dict`` does (model
    wrappers unwrapped, each module's ``_load_from_state_dict`` and post hooks run, so layout
    conversions apply), returning (missing keys, unexpected keys, error messages) instead of
    logging them."""
    missing: List[str] = []
    unexpected: List[str] = []
    errors: List[str] = []
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata

    def load(mod: nn.Module, local: dict, prefix: str = '') -> None:
        if is_model_wrapper(mod) or isinstance(mod, BaseTTAModel):
            mod = mod.module
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        mod._load_from_state_dict(local, prefix, local_metadata, True, missing, unexpected,
                                  errors)
        for name, child in mod._modules.items():
            if child is not None:
                child_prefix = f'{prefix}{name}.'
                load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)},
                     child_prefix)
        incompatible = _IncompatibleKeys(missing, unexpected)
        for hook in getattr(mod, '_load_state_dict_post_hooks', {}).values():
            hook(mod, incompatible)

    load(module, state_dict)
    missing = [k for k in missing if 'num_batches_tracked' not in k]
    return missing, unexpected, errors


def optional_pretrained_keys(module: nn.Module) -> Set[str]:
    """State-dict keys of ``module`` that a pre-training checkpoint may lack: each submodule's
    ``optional_pretrained_keys`` class attribute, with the submodule's prefix."""
    keys = set()
    for name, sub in module.named_modules():
        for key in getattr(sub, 'optional_pretrained_keys', ()):
            keys.add(f'{name}.{key}' if name else key)
    return keys


def load_state_dict_checked(module: nn.Module, state_dict: dict, source: str,
                            strict: bool = True, optional_missing: Iterable[str] = (),
                            opt_out: str = '') -> None:
    """Load ``state_dict`` into ``module``; with ``strict``, raise
    :class:`CheckpointMismatchError` on size mismatches and on keys of ``module`` that
    ``state_dict`` lacks (except ``optional_missing``), naming ``source`` and the keys. Keys
    ``module`` does not use are a warning. ``strict=False`` is mmengine's ``load_state_dict``
    (loads what fits, warns).

    Args:
        module: the model or part (e.g. the backbone) being loaded.
        state_dict: its weights, keys relative to ``module``.
        source: the checkpoint in words for the messages, e.g. "checkpoint a.pth (keys under
            'backbone.')".
        strict: refuse mismatches (True) or only warn (False).
        optional_missing: keys that may be absent (they keep their current values).
        opt_out: how the user can load anyway, appended to the error.
    """
    if not strict:
        print_log(f'loading {source} non-strictly: tensors that do not fit are skipped',
                  logger='current', level=logging.WARNING)
        mmengine_load_state_dict(module, state_dict, strict=False, logger='current')
        return
    missing, unexpected, errors = _load_collecting(module, state_dict)
    optional_missing = set(optional_missing)
    kept = [k for k in missing if k in optional_missing]
    missing = [k for k in missing if k not in optional_missing]
    mismatched, other = [], []
    for msg in errors:
        found = _SIZE_MISMATCH.search(msg)
        if found:
            saved, wanted = (tuple(int(d) for d in dims.split(',') if d.strip())
                             for dims in found.group(2, 3))
            mismatched.append(f'{found[1]} (checkpoint {saved}, model {wanted})')
        else:
            other.append(msg)
    name = type(module).__name__
    if mismatched or missing or other:
        lines = [f'{source} does not fit the {name} being loaded:']
        if mismatched:
            lines.append(f'  {len(mismatched)} tensor(s) of another shape: {_short(mismatched)}')
        if missing:
            lines.append(f'  {len(missing)} key(s) of the {name} missing from the checkpoint: '
                         f'{_short(missing)}')
        lines += [f'  {msg}' for msg in other[:3]]
        lines.append('It was saved from another model or config (widths, depth, tokens, '
                     'prefix); use the checkpoint of this config\'s model'
                     + (f', or load what fits anyway with {opt_out}.' if opt_out else '.'))
        raise CheckpointMismatchError('\n'.join(lines))
    if unexpected:
        print_log(f'{source}: {len(unexpected)} key(s) not used by the {name}, ignored: '
                  f'{_short(unexpected)}', logger='current', level=logging.WARNING)
    if kept:
        print_log(f'{source} has no {_short(kept)}: kept at their initialisation',
                  logger='current', level=logging.INFO)


def _state_dict_of(checkpoint: Any, filename: str) -> dict:
    """The weights of a loaded checkpoint (``checkpoint['state_dict']`` or the plain dict),
    with DDP's ``module.`` prefix stripped as mmengine does."""
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'checkpoint {filename} holds a {type(checkpoint).__name__}'
                                      ', not a state dict; save model.state_dict() instead')
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    if metadata is not None:
        state_dict._metadata = metadata
    return state_dict


class CheckedPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` initialiser, registered under the same name
    (``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None, strict=True)``), that
    refuses a checkpoint that does not fit the module (see the module docstring).

    Args:
        checkpoint: the checkpoint file.
        prefix: load only the keys under this prefix (e.g. ``'backbone.'``), stripped;
            None: all keys.
        map_location: as ``torch.load``.
        strict: False: the expert's opt-out, load what fits and warn (mmengine's behaviour).
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 map_location: Any = 'cpu', strict: bool = True) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.strict = strict

    def __call__(self, module: nn.Module) -> None:
        source = f'checkpoint {self.checkpoint}'
        print_log(f'load {self.prefix or "model"} in {type(module).__name__} from '
                  f'{self.checkpoint}', logger='current')
        state_dict = _state_dict_of(
            CheckpointLoader.load_checkpoint(self.checkpoint, map_location=self.map_location),
            self.checkpoint)
        if self.prefix:
            prefix = self.prefix if self.prefix.endswith('.') else self.prefix + '.'
            source += f" (keys under '{prefix}')"
            selected = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                                   if k.startswith(prefix))
            if not selected:
                heads = sorted({k.split('.')[0] + '.' for k in state_dict})
                raise CheckpointMismatchError(
                    f"checkpoint {self.checkpoint} has no keys under '{prefix}' (its keys start "
                    f"with {_short(heads)}); set init_cfg.prefix to one of these, or "
                    "prefix=None for a file of this module's weights alone")
            state_dict = selected
        load_state_dict_checked(
            module, state_dict, source, strict=self.strict,
            optional_missing=optional_pretrained_keys(module),
            opt_out="init_cfg=dict(type='Pretrained', ..., strict=False)")
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())


def load_checkpoint_checked(runner, filename: str, strict: bool = True,
                            map_location: Any = 'cpu',
                            opt_out: str = 'tools/test.py --non-strict') -> dict:
    """``Runner.load_checkpoint`` (the checkpoint read, the hooks' ``after_load_checkpoint``
    run, the weights copied into the unwrapped model), but refusing a checkpoint that does not
    fit the whole model (every model key present, no size mismatch; see the module
    docstring). Returns the checkpoint."""
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        _state_dict_of(checkpoint, filename)  # raises, naming the file
    runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    load_state_dict_checked(model, _state_dict_of(checkpoint, filename),
                            f'checkpoint {filename}', strict=strict, opt_out=opt_out)
    runner.logger.info(f'Load checkpoint from {filename}')
    return checkpoint


def register_checkpoint_loader() -> None:
    """Make ``load_local_checkpoint`` mmengine's loader for local paths, make the message
    hub's buffers safe to unpickle, and make ``init_cfg=dict(type='Pretrained', ...)`` the
    checked :class:`CheckedPretrainedInit` (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=CheckedPretrainedInit,
                                        force=True)
