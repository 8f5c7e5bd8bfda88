"""tools/train.py --resume: exact continuation after a kill, and the errors of a resume that
cannot continue (nothing to resume, a missing file, a plain state dict, another model)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from pt3kd_mm.testing import REPO, load_tool
from pt3kd_mm.testing import run_tool as run

TINY = osp.join(REPO, 'tests/configs/tiny_point_mae.py')

# a hook that SIGKILLs its own process in the middle of epoch 2, after epoch_1.pth has been
# written and validated: a preemption at a reproducible point
PREEMPT_HOOK = '''
import os, signal
from mmengine.hooks import Hook
from mmdet3d.registry import HOOKS


@HOOKS.register_module()
class PreemptInSecondEpochHook(Hook):

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.epoch == 1 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def data_options(root):
    return [f'train_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'val_cfg.svm_train_dataloader.dataset.data_root={root}']


def train_cmd(cfg, work, root, *extra, options=()):
    # validation after every epoch: it draws from the RNG too (iterators, the probe)
    return [sys.executable, 'tools/train.py', cfg, '--work-dir', work, *extra,
            '--cfg-options', *data_options(root), 'randomness.seed=0',
            'randomness.deterministic=True', 'train_cfg.max_epochs=2',
            'train_cfg.val_interval=1', *options]


@pytest.mark.e2e
def test_killed_and_resumed_run_equals_uninterrupted(demo_root, tmp_path):
    straight = str(tmp_path / 'straight')
    run(train_cmd(TINY, straight, demo_root))

    (tmp_path / 'preempt_hook.py').write_text(PREEMPT_HOOK)
    preempted_cfg = tmp_path / 'tiny_preempted.py'
    preempted_cfg.write_text(
        f"_base_ = ['{TINY}']\n"
        "custom_imports = dict(imports=['pt3kd_mm', 'preempt_hook'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='PreemptInSecondEpochHook')]\n")
    resumed = str(tmp_path / 'resumed')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(tmp_path))
    proc = subprocess.run(train_cmd(str(preempted_cfg), resumed, demo_root), cwd=REPO,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert osp.isfile(osp.join(resumed, 'epoch_1.pth'))
    assert not osp.exists(osp.join(resumed, 'epoch_2.pth'))

    out = run(train_cmd(TINY, resumed, demo_root, '--resume'))
    assert 'resumed epoch: 1, iter: 4' in out
    assert 'restored the random states saved in the resumed checkpoint' in out

    want = torch.load(osp.join(straight, 'epoch_2.pth'), map_location='cpu',
                      weights_only=False)['state_dict']
    got = torch.load(osp.join(resumed, 'epoch_2.pth'), map_location='cpu',
                     weights_only=False)['state_dict']
    assert want.keys() == got.keys()
    differ = [k for k in want if not torch.equal(want[k], got[k])]
    assert not differ, f'{len(differ)} tensors differ, e.g. {differ[:3]}'


def fail(args):
    """Run tools/train.py expecting it to fail; its output."""
    proc = subprocess.run([sys.executable, 'tools/train.py', *args], cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True,
                          text=True)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr


def test_resume_with_nothing_to_resume_fails(tmp_path):
    work = str(tmp_path / 'empty')
    out = fail([TINY, '--work-dir', work, '--resume'])
    assert f'--resume: nothing to resume in the work dir {work}' in out
    assert '--resume-or-start' in out
    out = fail([TINY, '--work-dir', work, '--resume', str(tmp_path / 'nothere.pth')])
    assert f'--resume {tmp_path}/nothere.pth: no such checkpoint file' in out


def test_resume_or_start(tmp_path, monkeypatch, capsys):
    train = load_tool('tools/train.py')
    messages = []  # MMLogger's stream handler may predate capsys: collect the warnings here
    monkeypatch.setattr(train, 'print_log', lambda msg, **kwargs: messages.append(msg))
    assert train.resolve_resume(None, True, str(tmp_path)) is None  # a new run
    assert any('no checkpoint to resume in' in m for m in messages), messages
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    assert train.resolve_resume(None, True, str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    assert train.resolve_resume('auto', False, str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    (tmp_path / 'epoch_1.pth').unlink()
    with pytest.raises(FileNotFoundError, match='last_checkpoint names .*epoch_1.pth, which '
                       'does not exist'):
        train.resolve_resume('auto', False, str(tmp_path))
    monkeypatch.setattr(sys, 'argv', ['train.py', '--help'])
    with pytest.raises(SystemExit):
        train.parse_args()
    assert '--resume-or-start' in capsys.readouterr().out


def test_unknown_top_level_options():
    from mmengine.config import Config
    from pt3kd_mm.engine.config_checks import unknown_option_keys
    keys = set(Config.fromfile(TINY).keys())
    options = {'randomnes.seed': 5, 'num_points': 64, 'train_cfg.max_epochs': 1,
               'sync_bn': 'torch', 'find_unused_parameters': True}
    assert unknown_option_keys(keys, options) == [('randomnes.seed',
                                                   "did you mean 'randomness'?")]


def test_default_hooks_added_once():
    from mmengine.config import Config
    train = load_tool('tools/train.py')
    cfg = Config(dict(custom_hooks=[dict(type='RandomStateHook'), dict(type='EMAHook')]))
    train.add_default_hooks(cfg)
    assert [h['type'] for h in cfg.custom_hooks] == ['RandomStateHook', 'EMAHook',
                                                     'ResumeCheckHook']
    cfg = Config(dict())
    train.add_default_hooks(cfg)
    assert [h['type'] for h in cfg.custom_hooks] == ['RandomStateHook', 'ResumeCheckHook']


def _tiny_model(**backbone):
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.update(backbone)
    return MODELS.build(cfg.model), cfg


@pytest.mark.e2e
def test_resume_of_a_plain_state_dict_fails(demo_root, tmp_path):
    model, _ = _tiny_model()
    plain = tmp_path / 'plain.pth'
    torch.save(model.state_dict(), plain)
    out = fail([TINY, '--work-dir', str(tmp_path / 'w'), '--resume', str(plain),
                '--cfg-options', *data_options(demo_root), 'randomnes.seed=5'])
    assert f"cannot resume from {plain}: it is a plain state dict without 'meta'/" in out
    assert f"Use load_from='{plain}'" in out
    # and the typo in the options was reported
    assert "--cfg-options randomnes.seed: 'randomnes' is not a key" in out


@pytest.mark.e2e
def test_resume_of_another_models_checkpoint_fails(demo_root, tmp_path):
    from mmengine.optim import build_optim_wrapper
    model, cfg = _tiny_model(depth=3)  # the tiny config has depth 2
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    other = tmp_path / 'deeper.pth'
    torch.save(dict(meta=dict(epoch=1, iter=4), state_dict=model.state_dict(),
                    optimizer=optim.state_dict()), other)
    n_other = len(optim.optimizer.param_groups)
    out = fail([TINY, '--work-dir', str(tmp_path / 'w'), '--resume', str(other),
                '--cfg-options', *data_options(demo_root)])
    assert f'cannot resume from {other}: its optimizer state has {n_other} parameter ' \
           'groups' in out
    assert 'the checkpoint was trained with another model/optimiser config' in out
