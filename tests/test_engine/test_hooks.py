import math

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from pt3kd_mm.engine.hooks import cosine_schedule_value

GUMBEL = dict(type='CosineScheduleHook', attr='head.gumbel_tau', start=1.0, end=0.0625,
              num_iters=100000)
KL = dict(type='CosineScheduleHook', attr='kl_weight', start=0.0, end=0.1, num_iters=100000,
          begin_iter=10000)


def test_values_at_chosen_iterations():
    tau = lambda it: cosine_schedule_value(it, 1.0, 0.0625, 100000)  # noqa: E731
    kl = lambda it: cosine_schedule_value(it, 0.0, 0.1, 100000, 10000)  # noqa: E731
    assert tau(0) == 1.0 and tau(100000) == 0.0625 and tau(250000) == 0.0625
    assert tau(50000) == pytest.approx((1.0 + 0.0625) / 2)
    assert tau(25000) == pytest.approx(0.0625 + 0.9375 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert kl(0) == 0.0 and kl(10000) == 0.0
    assert kl(60000) == pytest.approx(0.05) and kl(110000) == pytest.approx(0.1)


class _Head(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.gumbel_tau = -1.0


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.head = _Head()
        self.kl_weight = -1.0
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.seen.append((self.head.gumbel_tau, self.kl_weight))
        return dict(loss=self.linear(inputs).mean())


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]))


def make_runner(work_dir, max_iters, resume=False, hooks=(GUMBEL, KL), name='a'):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(dataset=ToyData(), sampler=dict(type='DefaultSampler'),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[dict(h) for h in hooks],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=5, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmdet3d',
        resume=resume)


def flat(pairs):
    return [v for p in pairs for v in p]


def test_hook_sets_values_and_resumes_exactly(tmp_path):
    hooks = (dict(GUMBEL, num_iters=10), dict(KL, num_iters=10, begin_iter=2))
    runner = make_runner(tmp_path, 5, hooks=hooks)
    runner.train()
    expect = [(cosine_schedule_value(i, 1.0, 0.0625, 10),
               cosine_schedule_value(i, 0.0, 0.1, 10, 2)) for i in range(10)]
    assert flat(runner.model.seen) == pytest.approx(flat(expect[:5]))
    assert runner.message_hub.get_scalar('train/gumbel_tau').current() == \
        pytest.approx(expect[4][0])
    assert runner.message_hub.get_scalar('train/kl_weight').current() == \
        pytest.approx(expect[4][1])
    resumed = make_runner(tmp_path, 10, resume=True, hooks=hooks, name='b')
    resumed.train()
    assert flat(resumed.model.seen) == pytest.approx(flat(expect[5:10]))


def test_missing_attribute_error(tmp_path):
    runner = make_runner(tmp_path, 1, hooks=(dict(GUMBEL, attr='head.nope'), ))
    with pytest.raises(AttributeError, match="no attribute 'head.nope'"):
        runner.train()
