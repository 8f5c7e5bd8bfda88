"""Mixed-precision training on GPUs and CPUs alike (``tools/train.py --amp``)."""
import logging
from typing import Optional, Union

import torch
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmdet3d.registry import OPTIM_WRAPPERS

from ..utils.precision import cpu_has_native_bf16


@OPTIM_WRAPPERS.register_module()
class DeviceAgnosticAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` that also trains on CPU.

    mmengine 0.10's ``AmpOptimWrapper`` refuses to be built without a GPU / NPU / MLU / MUSA,
    and always scales the loss with a CUDA ``GradScaler``. This wrapper:

    * on GPUs (and the other accelerators) with fp16 (the default there): is mmengine's
      wrapper unchanged (fp16 autocast, dynamic loss scale unless ``loss_scale`` says
      otherwise);
    * with ``dtype='bfloat16'`` on any device: runs the forward under bf16 autocast without
      loss scaling (bf16 has fp32's exponent range, so gradients do not underflow);
    * on CPU: bf16 autocast (``mmengine.runner.amp.autocast``), no loss scaling; fp16 is
      refused (CPU autocast is bf16 only). On a CPU without bf16 units (no AMX / AVX512-BF16)
      it trains correctly but slower than fp32; a warning says so.

    Checkpoints: the loss scaler's state is saved only when there is one; a checkpoint with a
    ``loss_scaler`` entry (e.g. from a GPU fp16 run) resumes on CPU with that entry ignored.

    Args:
        loss_scale: as ``AmpOptimWrapper`` (used only where the loss is scaled: fp16).
        dtype: autocast dtype, 'float16' / 'bfloat16' (or a ``torch.dtype``); ``None``: fp16
            on GPUs, bf16 on CPU.
        use_fsdp: as ``AmpOptimWrapper``.
        **kwargs: ``OptimWrapper`` arguments (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype must be one of {self.valid_dtypes}, got {dtype!r}')
            dtype = getattr(torch, dtype)
        self.device_type = get_device()
        if self.device_type == 'cpu':
            if dtype not in (None, torch.bfloat16):
                raise ValueError(f'mixed precision on CPU runs in bfloat16 only, got dtype='
                                 f'{dtype}; drop optim_wrapper.dtype or set it to "bfloat16"')
            dtype = torch.bfloat16
            if not cpu_has_native_bf16():
                print_log('--amp on a CPU without bf16 units (no AMX / AVX512-BF16): bf16 '
                          'matrix products are emulated there and training is slower than in '
                          'fp32', logger='current', level=logging.WARNING)
        if dtype == torch.bfloat16:
            OptimWrapper.__init__(self, **kwargs)
            self.loss_scaler = None
            self._scale_update_param = None
            self.cast_dtype = dtype
        else:
            super().__init__(loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is None:
            return OptimWrapper.backward(self, loss, **kwargs)
        return super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            return OptimWrapper.step(self, **kwargs)
        return super().step(**kwargs)

    def state_dict(self) -> dict:
        if self.loss_scaler is None:
            return OptimWrapper.state_dict(self)
        return super().state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        if self.loss_scaler is None:
            state_dict = dict(state_dict)
            state_dict.pop('loss_scaler', None)  # e.g. a GPU fp16 run resumed on CPU
            return OptimWrapper.load_state_dict(self, state_dict)
        return super().load_state_dict(state_dict)
