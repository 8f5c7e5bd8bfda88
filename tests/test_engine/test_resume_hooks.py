"""RandomStateHook and ResumeCheckHook against real CPU runners."""
import random
from functools import partial

import numpy as np
import pytest
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

from pt3kd_mm.engine.hooks import (RandomStateHook, check_resumable, get_random_states,
                                   seed_worker_from_loader, set_random_states)
from pt3kd_mm.utils.checkpoint import load_local_checkpoint


class DrawingModel(BaseModel):
    """Records a draw of each RNG per iteration, as augmentation and masking would make."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.draws = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.draws.append((random.random(), float(np.random.rand()), torch.rand(()).item()))
        return dict(loss=self.linear(inputs).mean())


class ToyData(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]))


def make_runner(work_dir, max_epochs, hooks, resume=False, name='a'):
    return Runner(
        model=DrawingModel(), work_dir=str(work_dir),
        experiment_name=f'{name}_{abs(hash(str(work_dir)))}',
        train_dataloader=dict(dataset=ToyData(), sampler=dict(type='DefaultSampler'),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        custom_hooks=[dict(h) for h in hooks],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0), default_scope='mmdet3d', resume=resume)


@pytest.mark.parametrize('hooks, exact', [((dict(type='RandomStateHook'), ), True),
                                          ((), False)])
def test_resumed_runner_continues_the_draws(tmp_path, hooks, exact):
    straight = make_runner(tmp_path / 'straight', 4, hooks)
    straight.train()
    make_runner(tmp_path / 'resumed', 2, hooks, name='b').train()
    resumed = make_runner(tmp_path / 'resumed', 4, hooks, resume=True, name='c')
    resumed.train()
    assert len(resumed.model.draws) == 4  # epochs 3 and 4, two iterations each
    # without the hook, the resumed run replays the draws of epoch 1 (the original failure)
    assert (resumed.model.draws == straight.model.draws[4:]) == exact
    assert (resumed.model.draws == straight.model.draws[:4]) != exact


def test_states_survive_the_safe_checkpoint_loader(tmp_path):
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    states = get_random_states()
    expect = (random.random(), np.random.rand(), torch.rand(3))
    torch.save({'random_states': [states]}, tmp_path / 'c.pth')
    loaded = load_local_checkpoint(str(tmp_path / 'c.pth'))['random_states'][0]
    set_random_states(loaded)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[:2] == expect[:2] and torch.equal(got[2], expect[2])


def test_validation_does_not_consume_training_randomness():
    hook = RandomStateHook()
    torch.manual_seed(0)
    expect = torch.rand(2)
    torch.manual_seed(0)
    hook.before_val(None)
    torch.rand(5), np.random.rand(), random.random()  # the probe, iterators, ...
    hook.after_val(None)
    assert torch.equal(torch.rand(2), expect)


class NumpyDraw(Dataset):

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return np.random.rand()


def _epochs(worker_init_fn, epochs=2):
    loader = DataLoader(NumpyDraw(), num_workers=1, worker_init_fn=worker_init_fn)
    torch.manual_seed(0)
    return [torch.cat(list(loader)).tolist() for _ in range(epochs)]


def test_worker_seeds_change_every_epoch():
    fixed = partial(mmengine_worker_init_fn, num_workers=1, rank=0, seed=0)
    first, second = _epochs(fixed)
    assert first == second  # mmengine's fixed worker seeds: every epoch draws alike
    ours = partial(seed_worker_from_loader, num_workers=1, rank=0)
    first, second = _epochs(ours)
    assert first != second
    assert _epochs(ours) == [first, second]  # still a function of the main RNG
    other_rank = _epochs(partial(seed_worker_from_loader, num_workers=1, rank=1))
    assert other_rank[0] != first


def test_hook_replaces_mmengine_worker_seeding(tmp_path):
    runner = make_runner(tmp_path, 1, (dict(type='RandomStateHook'), ))
    runner.train_loop.dataloader.worker_init_fn = partial(
        mmengine_worker_init_fn, num_workers=2, rank=0, seed=0)
    hook = [h for h in runner.hooks if isinstance(h, RandomStateHook)][0]
    hook.before_train(runner)
    init_fn = runner.train_loop.dataloader.worker_init_fn
    assert init_fn.func is seed_worker_from_loader and init_fn.keywords['num_workers'] == 2


def test_load_from_keeps_the_new_runs_seed(tmp_path):
    make_runner(tmp_path / 'a', 1, (dict(type='RandomStateHook'), )).train()
    runner = make_runner(tmp_path / 'b', 1, (dict(type='RandomStateHook'), ))
    hook = [h for h in runner.hooks if isinstance(h, RandomStateHook)][0]
    runner.load_checkpoint(str(tmp_path / 'a' / 'epoch_1.pth'))
    assert hook._resumed_states is None


# ResumeCheckHook ---------------------------------------------------------------------------

def _optimizer_state(num_groups, per_group=1):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(num_groups * per_group)]
    groups = [dict(params=params[i * per_group:(i + 1) * per_group])
              for i in range(num_groups)]
    return torch.optim.AdamW(groups).state_dict()


def test_check_resumable_plain_state_dict():
    with pytest.raises(ValueError, match=r"cannot resume from w\.pth: it is a plain state dict "
                       r"without 'meta'/'optimizer'/'state_dict'.*load_from="):
        check_resumable({'linear.weight': torch.zeros(1, 2)}, 'w.pth',
                        {'linear.weight': (1, 2)}, {None: [1]})


def test_check_resumable_other_optimiser_and_model():
    ckpt = dict(meta=dict(epoch=1, iter=4), state_dict={'w': torch.zeros(2)},
                optimizer=_optimizer_state(3))
    with pytest.raises(ValueError, match=r"other\.pth: its optimizer state has 3 parameter "
                       r"groups of \[1, 1, 1\] parameters, this config's optimiser has 1 of "
                       r"\[1\]: the checkpoint was trained with another model/optimiser"):
        check_resumable(ckpt, 'other.pth', {'w': (2, )}, {None: [1]})
    ckpt['optimizer'] = _optimizer_state(1)
    with pytest.raises(ValueError, match=r"other\.pth: its weights do not fit this config's "
                       r"model \(1 missing, e.g. \['v'\]; 1 of another shape, e.g. "
                       r"\['w \(2,\) vs \(3,\)'\]"):
        check_resumable(ckpt, 'other.pth', {'w': (3, ), 'v': (1, )}, {None: [1]})
    check_resumable(ckpt, 'other.pth', {'w': (2, )}, {None: [1]})  # fits
