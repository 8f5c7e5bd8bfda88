"""The contract every frozen teacher of the project follows."""
import contextlib
import os.path as osp
import types
import warnings
from typing import Any, Dict, Iterator, Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet3d.registry import MODELS

from ...utils.precision import autocast_dtype, check_precision, cpu_has_native_bf16
from ...utils.checkpoint import load_local_checkpoint

_LOW_PRECISION = (torch.float16, torch.bfloat16)
#: Tolerance for a reduced-precision default: per-sample cosine similarity of the teacher's
#: features to fp32 >= 0.999 on average and >= 0.995 for every sample, i.e. target directions
#: within ~2.6 / ~5.7 degrees, which move a 1 - cosine loss (ACT) by <= 0.001 / 0.005 (the ACT
#: target itself varies far more: cosine ~0.73 between two fp32 Gumbel draws). Measured by
#: ``benchmarks/bench_teacher_precision.py``.
#: ``FrozenTeacher`` / ``ConfigModelTeacher`` default to fp32: a wrapped model may take
#: discrete decisions (argmax, sampling) that rounding flips; the ACT stage-1 model does (bf16:
#: cosine 0.994 mean / 0.976 min; with ``fp32_modules=('patch_embed', 'dgcnn_1')``: 0.99993).
DEFAULT_PRECISION = 'fp32'
#: The ViT / CLIP image and text teachers default to 'auto' (bf16 where the device computes it
#: natively, fp16 on GPUs without bf16, fp32 elsewhere): bf16 and fp16 keep their features within
#: the tolerance (cosine >= 0.99995 for every sample, ViT-B/16 and CLIP ViT-B/32).
ENCODER_PRECISION = 'auto'


def _to_float32(obj: Any) -> Any:
    """fp16 / bf16 tensors (also inside dicts, lists, tuples) -> float32; others unchanged."""
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.dtype in _LOW_PRECISION else obj
    if isinstance(obj, dict):
        return type(obj)((k, _to_float32(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(_to_float32(v) for v in obj)
    return obj


def _forward_in_fp32(self: nn.Module, *args, **kwargs) -> Any:
    """A module's own forward with autocast off and float32 inputs (see ``fp32_modules``)."""
    device_type = next((a.device.type for a in (*args, *kwargs.values())
                        if isinstance(a, torch.Tensor)), 'cpu')
    with torch.autocast(device_type, enabled=False):
        return type(self).forward(self, *_to_float32(args), **_to_float32(kwargs))


class FrozenTeacher(BaseModule):
    """A frozen teacher network.

    * built from a config; weights come only from ``checkpoint``, a local file (no network I/O
      at build); a missing file raises an error that names it and says how to obtain it
      (``how_to_get``), mismatched keys raise an error that names them;
    * frozen: ``requires_grad`` is off, and the network is held outside the module tree, so it
      is in none of the student's ``parameters()`` / ``state_dict()`` (no teacher weights in
      student checkpoints, nothing for the optimiser or DDP), while ``.to()`` / ``.cuda()`` /
      ``.half()`` still move it;
    * eval mode forever (``train()`` is a no-op for it) and a no-grad ``forward``;
    * ``forward`` computes in ``precision`` and returns float32 (fp16 / bf16 results are cast
      back), so students and losses never see low precision; the weights stay as loaded (fp32,
      bit-identical): low precision is applied by autocast on the network's device, which keeps
      norms, softmax statistics and residual sums in fp32 and casts only the inputs of matrix
      products. A surrounding autocast (``--amp``) does not leak in: an fp32 teacher computes
      in fp32 inside it. Sub-modules named in ``fp32_modules`` always compute in fp32 (e.g.
      layers whose output feeds an argmax / sampling, where rounding flips discrete choices).

    Subclasses implement ``build_network`` and ``forward_teacher`` and may override
    ``convert_state_dict`` to accept other checkpoint layouts, and ``load_network`` to accept
    another explicit source of weights than a file.

    Args:
        checkpoint: path of the teacher's weights (``None`` only where a subclass's
            ``load_network`` has another explicit source, e.g. an open_clip pretrained tag).
        prefix: keep only the checkpoint keys under this prefix (stripped), e.g. 'backbone.'.
        precision: what ``forward`` computes in: 'fp32'; 'bf16' (CUDA GPUs with bf16, and CPUs:
            fast with AMX / AVX512-BF16, emulated and slower than fp32 elsewhere, with a
            warning); 'fp16' (CUDA only; refused on CPU); 'auto' = bf16 on CPUs with bf16
            units, fp32 on other CPUs, bf16 on GPUs that have it, else fp16. Default 'fp32'
            here and in ``ConfigModelTeacher``, 'auto' in the ViT / CLIP image and text
            teachers (``DEFAULT_PRECISION``, ``ENCODER_PRECISION``: why);
            ``benchmarks/bench_teacher_precision.py`` measures the error of each against fp32.
        fp32_modules: names of sub-modules of the network (as in ``named_modules()``) that
            compute in fp32 whatever ``precision`` says.
    """

    how_to_get: str = ''
    #: True for text teachers, whose ``forward`` takes a list of B strings (not tensors):
    #: tools that run a teacher (e.g. ``tools/cache_teacher_features.py``) read it instead of
    #: listing the text teacher classes
    takes_texts: bool = False

    def __init__(self, checkpoint: Optional[str], prefix: str = '',
                 precision: str = DEFAULT_PRECISION,
                 fp32_modules: Sequence[str] = ()) -> None:
        self.precision = check_precision(precision, type(self).__name__)
        self.fp32_modules = tuple(fp32_modules)
        self._warned_emulated = False
        super().__init__(init_cfg=None)
        network = self.load_network(checkpoint, prefix)
        network.requires_grad_(False)
        network.eval()
        self._keep_in_fp32(network, self.fp32_modules)
        # outside the module tree on purpose (see the class docstring)
        object.__setattr__(self, 'network', network)
        self.checkpoint = checkpoint
        self.train(False)

    def load_network(self, checkpoint: Optional[str], prefix: str) -> nn.Module:
        """Build the network and load its weights from the local file ``checkpoint``.

        Subclasses with another explicit source of weights (e.g. an open_clip pretrained tag)
        override this and call ``super().load_network`` for the file case."""
        if not checkpoint or not osp.isfile(osp.expanduser(checkpoint)):
            raise FileNotFoundError(
                f'{type(self).__name__}: teacher checkpoint {checkpoint!r} does not exist. '
                f'{self.how_to_get}'.rstrip())
        network = self.build_network()
        state = self.convert_state_dict(self._read(checkpoint, prefix))
        try:
            result = network.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shape mismatches
            raise RuntimeError(f'{type(self).__name__}: {checkpoint} does not fit the teacher '
                               f'built from the config (check its size / arch): {err}') from err
        except ValueError as err:  # the network refuses what the file records (its 2D weights)
            raise ValueError(f'{type(self).__name__}: {checkpoint}: {err}') from err
        if result.missing_keys or result.unexpected_keys:
            raise KeyError(f'{type(self).__name__}: {checkpoint} does not match the teacher: '
                           f'missing keys {result.missing_keys[:10]}, unexpected keys '
                           f'{result.unexpected_keys[:10]} (prefix {prefix!r})')
        return network

    def _keep_in_fp32(self, network: nn.Module, names: Sequence[str]) -> None:
        modules = dict(network.named_modules())
        for name in names:
            if not name or name not in modules:
                children = [n for n, _ in network.named_children()]
                raise ValueError(f'{type(self).__name__}: fp32_modules names {name!r}, which is '
                                 f'no sub-module of {type(network).__name__} (its children: '
                                 f'{children})')
            # bound to the module, so a deep copy of the network rebinds it to the copy
            modules[name].forward = types.MethodType(_forward_in_fp32, modules[name])

    @staticmethod
    def _read(checkpoint: str, prefix: str) -> Dict[str, torch.Tensor]:
        ckpt = load_local_checkpoint(checkpoint, map_location='cpu')
        state = ckpt.get('state_dict', ckpt.get('model', ckpt)) if isinstance(ckpt, dict) \
            else ckpt
        if prefix:
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not state:
                raise KeyError(f'{checkpoint} has no keys under the prefix {prefix!r}')
        return state

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def convert_state_dict(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return state

    def forward_teacher(self, *args, **kwargs) -> Any:
        return self.network(*args, **kwargs)

    # ------------------------------------------------------------------ the contract
    def init_weights(self) -> None:
        """Weights come from the checkpoint only."""

    def train(self, mode: bool = True) -> 'FrozenTeacher':
        return super().train(False)

    def _apply(self, fn, recurse: bool = True):
        self.network._apply(fn)
        return super()._apply(fn, recurse)

    @contextlib.contextmanager
    def train_mode(self) -> Iterator['FrozenTeacher']:
        """The network in train mode inside the ``with`` block, for recipes whose frozen teacher
        runs in train mode (ACT stage 2): dropout is active and BatchNorm normalises with the
        batch's statistics, but no running statistic is updated (weights and buffers stay
        bit-identical); eval mode again afterwards. Nested ``FrozenTeacher`` s stay in eval."""
        norms = [m for m in self.network.modules()
                 if isinstance(m, _BatchNorm) and m.track_running_stats]
        try:
            for m in norms:
                m.track_running_stats = False  # batch statistics, running buffers untouched
            self.network.train(True)
            yield self
        finally:
            for m in norms:
                m.track_running_stats = True
            self.network.train(False)

    @property
    def device(self) -> torch.device:
        """The device of the network's weights."""
        for tensor in self.network.parameters():
            return tensor.device
        for tensor in self.network.buffers():
            return tensor.device
        return torch.device('cpu')

    def compute_dtype(self, device: Optional[torch.device] = None) -> Optional[torch.dtype]:
        """The autocast dtype ``forward`` uses on ``device`` (default: the network's); ``None``
        means fp32 (no autocast)."""
        device = self.device if device is None else torch.device(device)
        dtype = autocast_dtype(self.precision, device, type(self).__name__)
        if dtype == torch.bfloat16 and device.type == 'cpu' and not cpu_has_native_bf16() \
                and not self._warned_emulated:
            self._warned_emulated = True
            warnings.warn(f"{type(self).__name__}: precision={self.precision!r} on a CPU without "
                          f"bf16 units (no AMX / AVX512-BF16): bf16 is emulated there and the "
                          f"teacher runs slower than in fp32; 'auto' would use fp32 here")
        return dtype

    def precision_context(self, device: Optional[torch.device] = None):
        """The autocast context of ``precision`` (in fp32: autocast switched off, so a
        surrounding ``--amp`` autocast does not reach the teacher)."""
        device = self.device if device is None else torch.device(device)
        dtype = self.compute_dtype(device)
        if dtype is not None:
            return torch.autocast(device.type, dtype=dtype)
        if torch.is_autocast_enabled(device.type):
            return torch.autocast(device.type, enabled=False)
        return contextlib.nullcontext()

    @torch.no_grad()
    def forward(self, *args, **kwargs) -> Any:
        """``forward_teacher`` in ``precision``; fp16 / bf16 inputs and outputs become
        float32."""
        args, kwargs = _to_float32(args), _to_float32(kwargs)
        with self.precision_context():
            out = self.forward_teacher(*args, **kwargs)
        return _to_float32(out)


@MODELS.register_module()
class ConfigModelTeacher(FrozenTeacher):
    """Any registered model of this project (or mmdet3d / mmpretrain) as a frozen teacher, e.g.
    a pre-trained ``PointPatchTransformer`` or the ACT stage-1 autoencoder.

    Args:
        model: the model's config.
        checkpoint: its weights (an mmengine checkpoint or a plain state dict).
        prefix: checkpoint key prefix to select, e.g. 'backbone.'.
        method: the model's method the teacher's forward calls (default ``forward``).
        precision, fp32_modules: see ``FrozenTeacher``.
    """

    how_to_get = ('Train the model with tools/train.py and pass the saved .pth (use prefix= to '
                  'pick a sub-module such as "backbone.").')

    def __init__(self, model: dict, checkpoint: str, prefix: str = '',
                 method: Optional[str] = None,
                 precision: str = DEFAULT_PRECISION,
                 fp32_modules: Sequence[str] = ()) -> None:
        self.model_cfg = model
        self.method = method
        super().__init__(checkpoint, prefix, precision, fp32_modules)

    def build_network(self) -> nn.Module:
        return MODELS.build(self.model_cfg)

    def forward_teacher(self, *args, **kwargs) -> Any:
        fn = getattr(self.network, self.method) if self.method else self.network
        return fn(*args, **kwargs)
