"""Which reduced precision a device computes fast, in one place: the frozen teachers'
``precision`` and the mixed-precision optimiser wrapper (``tools/train.py --amp``) ask here.

Low precision is only free where the hardware multiplies it natively: CUDA GPUs (fp16, and bf16
from Ampere on) and CPUs with AMX tiles or AVX512-BF16 (Intel Sapphire Rapids and later, AMD Zen 4
and later). On other CPUs (AVX2 only, AVX-512 without BF16) oneDNN / MKL emulate bf16 and fp16
matrix products, which then run several times *slower* than fp32 (6-16x measured for bf16 on a
2-core AVX2 EPYC, see ``benchmarks/bench_teacher_precision.py``).
"""
from typing import Optional, Tuple

import torch

#: names accepted by ``FrozenTeacher(precision=...)``
PRECISIONS: Tuple[str, ...] = ('fp32', 'bf16', 'fp16', 'auto')
_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles or AVX512-BF16)."""
    cpu = getattr(torch, 'cpu', None)
    return any(
        bool(getattr(cpu, name, lambda: False)())
        for name in ('_is_amx_tile_supported', '_is_avx512_bf16_supported'))


def cuda_has_native_bf16(device: Optional[torch.device] = None) -> bool:
    """Whether the CUDA device computes bf16 natively (compute capability >= 8.0)."""
    if not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device)[0] >= 8


def check_precision(precision: str, owner: str = '') -> str:
    """``precision`` if it is one of ``PRECISIONS``, else a ``ValueError`` naming ``owner``."""
    if precision not in PRECISIONS:
        prefix = f'{owner}: ' if owner else ''
        raise ValueError(f'{prefix}precision must be one of {PRECISIONS}, got {precision!r}')
    return precision


def autocast_dtype(precision: str, device: torch.device,
                   owner: str = '') -> Optional[torch.dtype]:
    """The autocast dtype that ``precision`` means on ``device`` (``None``: fp32, no autocast).

    * 'fp32': None everywhere;
    * 'auto': CUDA -> bf16 where native (compute capability >= 8.0), else fp16; CPU -> bf16
      where native (AMX / AVX512-BF16), else None (fp32); other devices -> None;
    * 'bf16': bf16 on CUDA (an error on GPUs without bf16) and on CPU (emulated, i.e. slow,
      where the CPU has no bf16 units: the caller may warn, see ``cpu_has_native_bf16``);
    * 'fp16': fp16 on CUDA; refused on CPU (emulated fp16 matmul is even slower than bf16 and
      CPU autocast is bf16 only in mmengine): a ``ValueError`` that names 'auto' / 'bf16'.
    """
    check_precision(precision, owner)
    device = torch.device(device)
    prefix = f'{owner}: ' if owner else ''
    if precision == 'fp32':
        return None
    if precision == 'auto':
        if device.type == 'cuda':
            return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
        if device.type == 'cpu':
            return torch.bfloat16 if cpu_has_native_bf16() else None
        return None
    dtype = _DTYPES[precision]
    if device.type == 'cuda':
        if dtype == torch.bfloat16 and not cuda_has_native_bf16(device):
            raise ValueError(f"{prefix}precision='bf16' but {torch.cuda.get_device_name(device)} "
                             f"has no bf16 support; use 'fp16' or 'auto'")
        return dtype
    if device.type == 'cpu':
        if dtype == torch.float16:
            raise ValueError(
                f"{prefix}precision='fp16' is not supported on CPU (fp16 matrix products are "
                f"emulated there and far slower than fp32); use 'auto' (bf16 where the CPU "
                f"has bf16 units, fp32 elsewhere), 'bf16' or 'fp32'")
        return dtype
    raise ValueError(f'{prefix}precision={precision!r} is not supported on {device.type!r} '
                     f"devices; use 'fp32' or 'auto'")
