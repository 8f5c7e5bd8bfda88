"""The one way a distiller holds its frozen teachers."""
import copy
from typing import Dict, Iterator, Optional, Set

import torch
from torch import nn

from mmdet3d.registry import MODELS

from .base_teacher import FrozenTeacher


class TeacherSet(nn.Module):
    """A distiller's frozen teachers by name, built from their configs.

    ``teachers[name]`` returns the built teacher on the device the model was last moved to: a
    teacher built after ``model.to(device)`` is moved there when it is built, one built before
    moves with the model. Teachers are built at once (``lazy=False``,
    e.g. ACT, whose every step needs its teacher: a missing file fails at build time) or on
    first use (``lazy=True``, e.g. ReCon, whose teachers are never built when every sample
    carries cached targets, so a run from caches needs no teacher weights).

    Each teacher keeps the ``FrozenTeacher`` contract (frozen, eval, outside ``parameters()``
    and ``state_dict()``); this set adds nothing to either (its device probe is an empty
    non-persistent buffer).

    Args:
        cfgs: ``{name: teacher config or None}``; ``None`` declares a teacher the model may
            run without (asking for it raises an error that names the config key).
        lazy: build on first use instead of in ``__init__``.
        cfg_key: how the model's config names teacher ``name``, for error messages
            (default ``'model.{name}_teacher'``).
    """

    def __init__(self, cfgs: Dict[str, Optional[dict]], lazy: bool = False,
                 cfg_key: str = 'model.{name}_teacher') -> None:
        super().__init__()
        self.cfgs: Dict[str, Optional[dict]] = {k: copy.deepcopy(v) for k, v in cfgs.items()}
        self.cfg_key = cfg_key
        self.register_buffer('_device_probe', torch.empty(0), persistent=False)
        # a plain dict: the teachers stay outside the module tree (see FrozenTeacher)
        self._built: Dict[str, FrozenTeacher] = {}
        if not lazy:
            for name, cfg in self.cfgs.items():
                if cfg is not None:
                    self[name]

    @property
    def built(self) -> Set[str]:
        """Names of the teachers built so far."""
        return set(self._built)

    def configured(self, name: str) -> bool:
        """Whether teacher ``name`` has a config."""
        return self.cfgs.get(name) is not None

    def __getitem__(self, name: str) -> FrozenTeacher:
        if name not in self._built:
            if name not in self.cfgs:
                raise KeyError(f'no teacher named {name!r}; this model has {sorted(self.cfgs)}')
            if self.cfgs[name] is None:
                raise ValueError(f'teacher {name!r} is needed but '
                                 f'{self.cfg_key.format(name=name)} is not set')
            teacher = MODELS.build(self.cfgs[name])
            if not isinstance(teacher, FrozenTeacher):
                raise TypeError(f'{self.cfg_key.format(name=name)} built a '
                                f'{type(teacher).__name__}, not a FrozenTeacher')
            probe = self._device_probe
            self._built[name] = teacher.to(probe.device)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cfgs)

    def _apply(self, fn, recurse: bool = True):
        for teacher in self._built.values():
            teacher._apply(fn)
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f'teachers={list(self.cfgs)}, built={sorted(self._built)}'
