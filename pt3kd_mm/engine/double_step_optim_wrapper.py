"""The optimiser step of the reference part-segmentation scripts (Point-MAE / ACT / ReCon
``segmentation/main.py``)."""
from mmengine.optim import OptimWrapper

from mmdet3d.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class DoubleStepOptimWrapper(OptimWrapper):
    """Two optimiser steps per batch on the same gradients: one with the raw gradients, then
    (after clipping them with ``clip_grad``, max norm 10 in the reference) a second one.

    The reference loop calls ``loss.backward(); optimizer.step()`` and then, because its
    ``num_iter == 1`` branch is taken every iteration, ``clip_grad_norm_(..., 10);
    optimizer.step(); zero_grad()``. With AdamW both steps update the moments and the step
    count. This wrapper reproduces that; ``type='OptimWrapper'`` with the same ``clip_grad``
    gives the usual single clipped step instead. Gradient accumulation and AMP are not
    supported (the reference has neither).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self._accumulative_counts != 1:
            raise ValueError('DoubleStepOptimWrapper does not accumulate gradients '
                             '(accumulative_counts must be 1)')

    def step(self, **kwargs) -> None:
        """optimizer.step(); clip (when ``clip_grad``); optimizer.step()."""
        self.optimizer.step(**kwargs)
        if self.clip_grad_kwargs:
            self._clip_grad()
        self.optimizer.step(**kwargs)
