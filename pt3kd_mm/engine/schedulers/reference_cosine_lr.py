"""The learning-rate schedule of the Point-MAE / ACT / ReCon runners, epoch by epoch."""
import math
from typing import Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmdet3d.registry import PARAM_SCHEDULERS


def reference_cosine_lr(epoch: int, base_lr: float, t_initial: int, warmup_epochs: int,
                        warmup_lr_init: float, lr_min: float, step_lag: int) -> float:
    """The reference's learning rate in (0-based) ``epoch``.

    timm's ``CosineLRScheduler(t_initial, lr_min, warmup_t, warmup_lr_init, cycle_limit=1,
    t_in_epochs=True)`` gives ``f(t)``: linear ``warmup_lr_init -> base_lr`` over
    ``warmup_epochs``, then ``lr_min + (base_lr - lr_min) (1 + cos(pi t / t_initial)) / 2`` (the
    cosine's phase counts the warm-up epochs), ``lr_min`` from ``t_initial`` on. The runners
    call ``scheduler.step(epoch)`` after each epoch, so epoch ``e`` trains with
    ``f(max(e - step_lag, 0))``, ``step_lag = 1``.
    """
    t = max(epoch - step_lag, 0)
    if t < warmup_epochs:
        return warmup_lr_init + t * (base_lr - warmup_lr_init) / warmup_epochs
    if t >= t_initial:
        return lr_min
    return lr_min + 0.5 * (base_lr - lr_min) * (1 + math.cos(math.pi * t / t_initial))


@PARAM_SCHEDULERS.register_module()
class ReferenceCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Per-epoch warm-up + cosine exactly as the reference runners (timm 0.4.5
    ``CosineLRScheduler`` stepped once per epoch, one epoch behind): see
    ``reference_cosine_lr``. The reference trains ``max_epoch + 1`` epochs (0..300 for
    ``max_epoch: 300``) with ``t_initial = 300``; so ``t_initial`` defaults to
    ``end - begin - 1`` (``end`` is ``max_epochs`` unless given).

    Args:
        optimizer: the optimiser (wrapper).
        t_initial: epochs of the cosine, warm-up included (None: ``end - begin - 1``).
        warmup_epochs: linear warm-up epochs.
        warmup_lr_init: learning rate at the start of the warm-up.
        lr_min: floor of the cosine.
        step_lag: epochs the schedule lags behind (1: the reference steps after each epoch).
        begin / end / last_step / by_epoch / verbose: as mmengine's schedulers (by_epoch only).
    """

    def __init__(self,
                 optimizer,
                 t_initial: Optional[int] = None,
                 warmup_epochs: int = 10,
                 warmup_lr_init: float = 1e-6,
                 lr_min: float = 1e-6,
                 step_lag: int = 1,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if not by_epoch:
            raise ValueError('ReferenceCosineLR steps per epoch as the reference (by_epoch=True)')
        if t_initial is None:
            if end == INF:
                raise ValueError('ReferenceCosineLR needs t_initial or a finite end (the '
                                 'runner sets end to max_epochs)')
            t_initial = end - begin - 1
        if t_initial <= 0 or warmup_epochs < 0 or step_lag < 0:
            raise ValueError(f'ReferenceCosineLR: t_initial ({t_initial}) must be > 0, '
                             f'warmup_epochs ({warmup_epochs}) and step_lag ({step_lag}) >= 0')
        self.t_initial, self.warmup_epochs = t_initial, warmup_epochs
        self.warmup_lr_init, self.lr_min, self.step_lag = warmup_lr_init, lr_min, step_lag
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    def _get_value(self) -> list:
        return [
            reference_cosine_lr(self.last_step, base, self.t_initial, self.warmup_epochs,
                                self.warmup_lr_init, self.lr_min, self.step_lag)
            for base in self.base_values
        ]
