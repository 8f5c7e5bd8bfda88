"""Random states in checkpoints, so that a resumed run draws what an uninterrupted one would."""
import random
import warnings
from functools import partial
from typing import List, Optional

import numpy as np
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from mmdet3d.registry import HOOKS

CHECKPOINT_KEY = 'random_states'


def get_random_states() -> dict:
    """This process's RNG states: python ``random``, numpy's global RNG, torch CPU and, once
    CUDA is initialised, every CUDA device's."""
    states = dict(python=random.getstate(), numpy=np.random.get_state(),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict) -> None:
    """Restore states from :func:`get_random_states` (also after a round trip through
    ``torch.load(weights_only=True)`` and a ``map_location`` on a GPU)."""
    version, internal, gauss_next = states['python']
    random.setstate((version, tuple(internal), gauss_next))
    np.random.set_state(tuple(states['numpy']))
    torch.set_rng_state(states['torch'].cpu())
    cuda = states.get('cuda')
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            warnings.warn(f'the checkpoint holds the CUDA random states of {len(cuda)} '
                          f'devices, this process sees {torch.cuda.device_count()}: CUDA '
                          'random states are not restored')


def seed_worker_from_loader(worker_id: int, num_workers: int, rank: int,
                            disable_subprocess_warning: bool = False) -> None:
    """``worker_init_fn`` whose seeds change every epoch and survive a resume.

    mmengine's ``worker_init_fn`` seeds worker ``i`` with the fixed ``seed + num_workers *
    rank + i``, so non-persistent workers replay the same augmentation draws every epoch (and
    persistent ones replay epoch 1's after a resume). PyTorch has already seeded this worker's
    ``random``, numpy and torch from ``base_seed + worker_id``, where ``base_seed`` is drawn
    from the main process's torch RNG when the epoch's iterator is created (and that RNG is
    checkpointed by :class:`RandomStateHook`); this only offsets the seeds by rank, as
    mmengine does, so that ranks sharing a seed do not draw alike.
    """
    seed = (torch.initial_seed() + num_workers * rank) % 2**63
    np.random.seed(seed % 2**32)
    random.seed(seed)
    torch.manual_seed(seed)
    if disable_subprocess_warning and worker_id != 0:
        warnings.simplefilter('ignore')


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the RNG states in checkpoints and restores them on resume.

    A resumed run then continues the augmentation, masking and dropout draws of the
    uninterrupted run instead of replaying those of iteration 0 (with
    ``randomness=dict(seed=..., deterministic=True)`` it ends with the same weights).

    * ``before_save_checkpoint``: ``checkpoint['random_states']`` = ``[states]``, the saving
      process's states at the point of saving (e.g. after the epoch for an epoch-end
      checkpoint). ``Runner.save_checkpoint`` runs on rank 0 only (``master_only``), so no
      collective can run there: with several processes rank 0's states are saved.
    * ``after_load_checkpoint`` (resume only, not ``load_from``): keeps the saved states;
      ``before_train`` restores them, after everything the runner does on resume (mmengine
      re-seeds when the checkpoint's seed differs from the config's). With several processes
      every rank gets rank 0's states: exact when the ranks were seeded alike (mmengine's
      default, ``diff_rank_seed=False``) and draw alike per step (augmentations and masks
      draw the same amount for every sample); with ``diff_rank_seed=True`` a warning says
      the other ranks' streams are not restored.
    * validation leaves the training RNG untouched (states saved in ``before_val``, restored
      in ``after_val``), so a run that validates draws in training what a run resumed after
      the validation draws; a checkpoint saved during validation (``save_best``) holds the
      states from before it.
    * data-loader workers: mmengine's fixed per-worker seeds are replaced by
      :func:`seed_worker_from_loader` (derived from the main RNG when each epoch's iterator is
      created). Exact for ``num_workers=0`` and for non-persistent workers; persistent workers
      are re-created on resume with fresh (not replayed) seeds.

    ``tools/train.py`` adds this hook to every config's ``custom_hooks``.
    """

    priority = 'LOWEST'  # restore in before_train after any other hook has drawn

    def __init__(self) -> None:
        self._resumed_states: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        states = self._before_val if self._before_val is not None else get_random_states()
        checkpoint[CHECKPOINT_KEY] = [states]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from: a new run keeps its own seed
        saved: Optional[List[dict]] = checkpoint.get(CHECKPOINT_KEY)
        if saved is None:
            runner.logger.warning(
                'the checkpoint being resumed holds no random states (saved without '
                'RandomStateHook): the resumed run draws from a fresh seed, so it will not '
                'match an uninterrupted run')
        elif len(saved) == get_world_size():  # one state per rank
            self._resumed_states = saved[get_rank()]
        elif len(saved) == 1:  # the saving rank's states, for every rank
            self._resumed_states = saved[0]
            if get_world_size() > 1 and runner.cfg.get('randomness', {}).get('diff_rank_seed'):
                runner.logger.warning(
                    'diff_rank_seed=True: every rank resumes with rank 0\'s random states '
                    '(checkpoints hold the saving rank\'s), so ranks other than 0 do not '
                    'continue their own streams')
        else:
            runner.logger.warning(
                f'the checkpoint being resumed holds the random states of {len(saved)} ranks, '
                f'this run has {get_world_size()}: random states are not restored')

    def before_train(self, runner) -> None:
        loader = runner.train_loop.dataloader
        init_fn = getattr(loader, 'worker_init_fn', None)
        if (isinstance(loader, DataLoader) and isinstance(init_fn, partial)
                and init_fn.func is mmengine_worker_init_fn):
            loader.worker_init_fn = partial(
                seed_worker_from_loader, num_workers=init_fn.keywords['num_workers'],
                rank=init_fn.keywords['rank'],
                disable_subprocess_warning=init_fn.keywords.get('disable_subprocess_warning',
                                                                False))
        if self._resumed_states is not None:
            set_random_states(self._resumed_states)
            self._resumed_states = None
            runner.logger.info('restored the random states saved in the resumed checkpoint')

    def before_val(self, runner) -> None:
        self._before_val = get_random_states()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_random_states(self._before_val)
            self._before_val = None
