"""The contract every frozen teacher of the project follows."""
import os.path as osp
from typing import Any, Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import nn

from mmdet3d.registry import MODELS

from ...utils.checkpoint import load_local_checkpoint


class FrozenTeacher(BaseModule):
    """A frozen teacher network.

    * built from a config; weights come only from ``checkpoint``, a local file (no network I/O
      at build); a missing file raises an error that names it and says how to obtain it
      (``how_to_get``), mismatched keys raise an error that names them;
    * frozen: ``requires_grad`` is off, and the network is held outside the module tree, so it
      is in none of the student's ``parameters()`` / ``state_dict()`` (no teacher weights in
      student checkpoints, nothing for the optimiser or DDP), while ``.to()`` / ``.cuda()`` /
      ``.half()`` still move it;
    * eval mode forever (``train()`` is a no-op for it) and a no-grad ``forward``.

    Subclasses implement ``build_network`` and ``forward_teacher`` and may override
    ``convert_state_dict`` to accept other checkpoint layouts, and ``load_network`` to accept
    another explicit source of weights than a file.

    Args:
        checkpoint: path of the teacher's weights (``None`` only where a subclass's
            ``load_network`` has another explicit source, e.g. an open_clip pretrained tag).
        prefix: keep only the checkpoint keys under this prefix (stripped), e.g. 'backbone.'.
    """

    how_to_get: str = ''

    def __init__(self, checkpoint: Optional[str], prefix: str = '') -> None:
        super().__init__(init_cfg=None)
        network = self.load_network(checkpoint, prefix)
        network.requires_grad_(False)
        network.eval()
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
        if result.missing_keys or result.unexpected_keys:
            raise KeyError(f'{type(self).__name__}: {checkpoint} does not match the teacher: '
                           f'missing keys {result.missing_keys[:10]}, unexpected keys '
                           f'{result.unexpected_keys[:10]} (prefix {prefix!r})')
        return network

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

    @torch.no_grad()
    def forward(self, *args, **kwargs) -> Any:
        return self.forward_teacher(*args, **kwargs)


@MODELS.register_module()
class ConfigModelTeacher(FrozenTeacher):
    """Any registered model of this project (or mmdet3d / mmpretrain) as a frozen teacher, e.g.
    a pre-trained ``PointPatchTransformer`` or the ACT stage-1 autoencoder.

    Args:
        model: the model's config.
        checkpoint: its weights (an mmengine checkpoint or a plain state dict).
        prefix: checkpoint key prefix to select, e.g. 'backbone.'.
        method: the model's method the teacher's forward calls (default ``forward``).
    """

    how_to_get = ('Train the model with tools/train.py and pass the saved .pth (use prefix= to '
                  'pick a sub-module such as "backbone.").')

    def __init__(self, model: dict, checkpoint: str, prefix: str = '',
                 method: Optional[str] = None) -> None:
        self.model_cfg = model
        self.method = method
        super().__init__(checkpoint, prefix)

    def build_network(self) -> nn.Module:
        return MODELS.build(self.model_cfg)

    def forward_teacher(self, *args, **kwargs) -> Any:
        fn = getattr(self.network, self.method) if self.method else self.network
        return fn(*args, **kwargs)
