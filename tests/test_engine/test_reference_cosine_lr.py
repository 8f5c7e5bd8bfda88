"""ReferenceCosineLR reproduces the reference runners' learning rates: timm's
CosineLRScheduler stepped with ``scheduler.step(epoch)`` after every epoch of
``for epoch in range(0, max_epoch + 1)``."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from pt3kd_mm.engine import ReferenceCosineLR

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def reference_lrs(base_lr, max_epoch, warmup, t_initial):
    """What the reference runner trains each epoch with (timm's scheduler, run as they do)."""
    from timm.scheduler import CosineLRScheduler
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = CosineLRScheduler(opt, t_initial=t_initial, lr_min=1e-6, warmup_lr_init=1e-6,
                              warmup_t=warmup, cycle_limit=1, t_in_epochs=True)
    lrs = []
    for epoch in range(0, max_epoch + 1):
        lrs.append(opt.param_groups[0]['lr'])
        sched.step(epoch)
    return lrs


def ours(base_lr, num_epochs, warmup):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = ReferenceCosineLR(opt, warmup_epochs=warmup, end=num_epochs)
    lrs = []
    for _ in range(num_epochs):
        lrs.append(opt.param_groups[0]['lr'])
        sched.step()
    return lrs


@pytest.mark.parametrize('base_lr,max_epoch,warmup', [(1e-3, 300, 10), (5e-4, 30, 3)])
def test_matches_timm_as_the_reference_runs_it(base_lr, max_epoch, warmup):
    pytest.importorskip('timm', reason='timm (installed with open_clip) gives the reference')
    expected = reference_lrs(base_lr, max_epoch, warmup, t_initial=max_epoch)
    got = ours(base_lr, max_epoch + 1, warmup)
    assert len(got) == len(expected) == max_epoch + 1
    assert torch.allclose(torch.tensor(got, dtype=torch.float64),
                          torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=1e-12)
    # one epoch behind: epochs 0 and 1 both at the warm-up start; the peak is never reached
    assert got[0] == got[1] == pytest.approx(1e-6)
    assert max(got) < base_lr


def test_runner_builds_it_from_the_base_schedule(demo_root, tmp_path):
    """configs/point_mae_pretrain.py: 301 epochs, t_initial = max_epochs - 1 = 300 from the
    runner's end; tokens, norms and biases undecayed, positions decayed."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/point_mae_pretrain.py'))
    assert cfg.train_cfg.max_epochs == 301
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = demo_root
    cfg.model.backbone.update(embed_dims=32, depth=1, num_heads=2)
    cfg.model.neck.update(depth=1, num_heads=2)
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.train_loop  # built: the runner then gives schedulers end = max_epochs
    (sched, ) = runner.build_param_scheduler(cfg.param_scheduler)
    assert isinstance(sched, ReferenceCosineLR)
    assert (sched.end, sched.t_initial, sched.warmup_epochs) == (301, 300, 10)
    decay = {}
    names = {id(p): n for n, p in runner.model.named_parameters()}
    for group in runner.optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    assert decay['neck.mask_token'] == 0
    assert decay['backbone.transformer.blocks.0.ln1.weight'] == 0
    assert decay['backbone.transformer.blocks.0.attn.proj.bias'] == 0
    assert decay['backbone.patch_embed.second_norm.weight'] == 0
    assert decay['backbone.transformer.blocks.0.attn.qkv.weight'] == 0.05
    assert decay['backbone.pos_embed.0.weight'] == 0.05
