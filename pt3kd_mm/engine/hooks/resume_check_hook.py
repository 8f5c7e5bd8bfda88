"""Refuse to resume from a checkpoint that cannot continue this config's training."""
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.runner import find_latest_checkpoint

from mmdet3d.registry import HOOKS


def _group_sizes(optim_state: dict) -> List[int]:
    return [len(group['params']) for group in optim_state['param_groups']]


def check_resumable(checkpoint: dict, filename: str, model_state: Dict[str, tuple],
                    optim_sizes: Dict[Optional[str], List[int]]) -> None:
    """Raise a ``ValueError`` naming ``filename`` and what is wrong when ``checkpoint`` is not
    a training checkpoint of this model and optimiser.

    Args:
        checkpoint: the loaded checkpoint.
        filename: its path, for the messages.
        model_state: this model's state-dict keys -> tensor shapes.
        optim_sizes: the number of parameters in each parameter group of this config's
            optimiser, under ``None`` for one optimiser or under each name of an
            ``OptimWrapperDict``.
    """
    missing = [k for k in ('meta', 'optimizer', 'state_dict') if k not in checkpoint]
    if missing:
        raise ValueError(
            f'cannot resume from {filename}: it is a plain state dict without '
            f'{"/".join(repr(k) for k in missing)}, not a training checkpoint. Use '
            f'load_from={filename!r} (or the backbone\'s init_cfg=dict(type="Pretrained", '
            'checkpoint=...)) to start a new run from these weights.')
    for key in ('epoch', 'iter'):
        if key not in checkpoint['meta']:
            raise ValueError(f"cannot resume from {filename}: its meta has no {key!r}; it was "
                             'not written by the training runner. Use load_from to start from '
                             'its weights.')
    saved = checkpoint['state_dict']
    absent = sorted(set(model_state) - set(saved))
    mismatched = [f'{k} {tuple(saved[k].shape)} vs {model_state[k]}' for k in model_state
                  if k in saved and tuple(saved[k].shape) != model_state[k]]
    if absent or mismatched:
        raise ValueError(
            f'cannot resume from {filename}: its weights do not fit this config\'s model '
            f'({len(absent)} missing, e.g. {absent[:3]}; {len(mismatched)} of another shape, '
            f'e.g. {mismatched[:3]}): the checkpoint was trained with another model config. '
            'Resume only with the config it was trained with.')
    optim = checkpoint['optimizer']
    for name, sizes in optim_sizes.items():
        where = '' if name is None else f'[{name!r}]'
        state = optim if name is None else optim.get(name)
        if state is None or 'param_groups' not in state:
            raise ValueError(f'cannot resume from {filename}: it has no optimizer state'
                             f'{where}; the checkpoint was trained with another optimiser '
                             'config (optim_wrapper).')
        saved_sizes = _group_sizes(state)
        if saved_sizes != sizes:
            raise ValueError(
                f'cannot resume from {filename}: its optimizer state{where} has '
                f'{len(saved_sizes)} parameter groups of {saved_sizes} parameters, this '
                f"config's optimiser has {len(sizes)} of {sizes}: the checkpoint was trained "
                'with another model/optimiser config (paramwise_cfg, frozen parts). Resume '
                'only with the config it was trained with, or start from its weights with '
                'load_from.')


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """On resume (not ``load_from``), checks the checkpoint against this run's model and
    optimiser before mmengine restores them, so that a plain state dict, or another model's
    checkpoint, fails with the file's name and the reason instead of ``KeyError: 'meta'`` or
    "loaded state dict has a different number of parameter groups".

    ``tools/train.py`` adds this hook to every config's ``custom_hooks``.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        filename = runner._load_from or find_latest_checkpoint(runner.work_dir)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model_state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        wrapper = runner.optim_wrapper
        if isinstance(wrapper, OptimWrapperDict):
            optim_sizes = {name: _group_sizes(w.optimizer.state_dict())
                           for name, w in wrapper.items()}
        elif hasattr(wrapper, 'optimizer'):
            optim_sizes = {None: _group_sizes(wrapper.optimizer.state_dict())}
        else:  # not built (runner.resume called outside runner.train): model check only
            optim_sizes = {}
        check_resumable(checkpoint, str(filename), model_state, optim_sizes)
