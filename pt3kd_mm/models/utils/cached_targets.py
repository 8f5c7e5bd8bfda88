"""Teacher targets read from a feature cache in the data samples (the ReCon / concept
distillation way of training without running the teacher)."""
import math
import warnings
from typing import List, Optional, Sequence, Set

import numpy as np
import torch
from torch import Tensor

from ...utils.teacher_cache import check_cache_teacher, read_cache_meta


class CachedTargetsMixin:
    """For a distiller holding its frozen teachers in ``self.teachers`` (a ``TeacherSet``):
    ``cached_targets(name, ...)`` returns the samples' cached ``<name>_target`` rows (put there
    by ``LoadTeacherFeatures``) after checking, once per cache folder and process, that
    ``model.<name>_teacher`` made them; None when no sample carries one."""

    _checked_caches: Set[str]

    def cached_targets(self, name: str, samples: Sequence, device: torch.device,
                       shape: Optional[Sequence[int]] = None) -> Optional[Tensor]:
        """(B, *row) float32 targets of the B samples, or None when none is cached.

        Args:
            name: the teacher's name ('img', 'text'); rows are the metainfo ``<name>_target``.
            samples: the batch's data samples.
            device: where the targets go.
            shape: reshape every row to it (a row of another size is an error naming both).

        Raises:
            ValueError: only some samples are cached, or a row does not fit ``shape``.
            KeyError: a cached row without its source (``<name>_target_cache``).
        """
        owner = type(self).__name__
        key = f'{name}_target'
        cached = [s.metainfo.get(key) for s in samples]
        if not cached or all(c is None for c in cached):
            return None
        if any(c is None for c in cached):
            raise ValueError(f'{owner}: only some samples of the batch carry a cached {key}; '
                             f'the cache does not cover the whole dataset')
        self.check_caches(name, {s.metainfo.get(f'{key}_cache') for s in samples})
        rows: List[np.ndarray] = []
        for i, row in enumerate(cached):
            row = np.asarray(row)
            if shape is not None:
                shape = tuple(shape)
                if row.size != math.prod(shape):
                    raise ValueError(
                        f'{owner}: the cached {key} of sample {i} has shape {row.shape} '
                        f'({row.size} values) but the head predicts {shape} '
                        f'({math.prod(shape)}); the cache comes from another teacher or the '
                        f'head\'s target shape is wrong')
                row = row.reshape(shape)
            rows.append(row)
        return torch.as_tensor(np.stack(rows), dtype=torch.float32, device=device)

    def check_caches(self, name: str, cache_dirs: Set[Optional[str]]) -> None:
        """Refuse cached ``name`` targets that another teacher than ``model.<name>_teacher``
        made (checked once per cache folder and process)."""
        owner = type(self).__name__
        if not hasattr(self, '_checked_caches'):
            self._checked_caches = set()
        if None in cache_dirs:
            raise KeyError(f"{owner}: cached {name}_target without its source; add "
                           f"'{name}_target_cache' to Pack3DDetInputs' meta_keys so the cache "
                           f"can be checked against model.{name}_teacher")
        cfg = self.teachers.cfgs[name]
        for cache_dir in cache_dirs - self._checked_caches:
            if cfg is None:
                warnings.warn(f'{owner}: no model.{name}_teacher configured, so the teacher '
                              f'behind {cache_dir} cannot be checked')
            else:
                check_cache_teacher(cache_dir, read_cache_meta(cache_dir), cfg)
            self._checked_caches.add(cache_dir)
