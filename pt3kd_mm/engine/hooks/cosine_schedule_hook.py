"""Iteration-based cosine schedules of model attributes (Gumbel temperature, KL weight, ...)."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet3d.registry import HOOKS


def cosine_schedule_value(it: int, start: float, end: float, num_iters: int,
                          begin_iter: int = 0) -> float:
    """``start`` until ``begin_iter``, cosine from ``start`` to ``end`` over the next
    ``num_iters`` iterations, then ``end`` (the dVAE schedules of Point-BERT / ACT)."""
    if num_iters <= 0:
        raise ValueError(f'num_iters must be positive, got {num_iters}')
    t = min(max(it - begin_iter, 0), num_iters) / num_iters
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))


@HOOKS.register_module()
class CosineScheduleHook(Hook):
    """Sets ``model.<attr>`` from ``runner.iter`` before every training iteration.

    The value is a pure function of the iteration, so a resumed run continues the schedule
    exactly; it is logged as ``train/<name>``.

    Args:
        attr: dotted attribute path on the (unwrapped) model, e.g. 'head.gumbel_tau'.
        start / end: values at the start and the end of the cosine.
        num_iters: length of the cosine in iterations.
        begin_iter: iterations held at ``start`` before the cosine begins.
        name: the logged name (defaults to the last part of ``attr``).

    Example (ACT stage 1)::

        custom_hooks = [
            dict(type='CosineScheduleHook', attr='gumbel_tau', start=1.0, end=0.0625,
                 num_iters=100000),
            dict(type='CosineScheduleHook', attr='kl_weight', start=0.0, end=0.1,
                 num_iters=100000, begin_iter=10000),
        ]
    """

    priority = 'NORMAL'

    def __init__(self, attr: str, start: float, end: float, num_iters: int,
                 begin_iter: int = 0, name: Optional[str] = None) -> None:
        cosine_schedule_value(0, start, end, num_iters, begin_iter)  # validate
        self.attr = attr
        self.start, self.end = float(start), float(end)
        self.num_iters, self.begin_iter = int(num_iters), int(begin_iter)
        self.name = name or attr.split('.')[-1]

    def _owner(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        *path, leaf = self.attr.split('.')
        obj = model
        for part in path:
            obj = getattr(obj, part)
        if not hasattr(obj, leaf):
            raise AttributeError(f'CosineScheduleHook: {type(model).__name__} has no attribute '
                                 f'{self.attr!r} to schedule')
        return obj, leaf

    def value_at(self, it: int) -> float:
        return cosine_schedule_value(it, self.start, self.end, self.num_iters, self.begin_iter)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        value = self.value_at(runner.iter)
        obj, leaf = self._owner(runner)
        setattr(obj, leaf, value)
        runner.message_hub.update_scalar(f'train/{self.name}', value)
