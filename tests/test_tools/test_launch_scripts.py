"""tools/dist_train.sh, dist_test.sh and slurm_train.sh run the project environment's python
(<repo>/.venv, or $PT3KD_VENV) rather than whatever ``python`` is first on PATH; ``PYTHON=``
still overrides; no usable interpreter stops with a message. The scripts run from a copy of
tools/ beside stand-in interpreters that only record how they were called (no training)."""
import os
import os.path as osp
import shutil
import stat
import subprocess

import pytest

from pt3kd_mm.testing import REPO

SCRIPTS = {
    'dist_train.sh': ['cfg.py', '2', '--work-dir', 'w'],
    'dist_test.sh': ['cfg.py', 'ckpt.pth', '2'],
    'slurm_train.sh': ['partition', 'job', 'cfg.py', 'w'],
}


def executable(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def sandbox(tmp_path):
    """A repository copy with the launch scripts, a PATH whose ``python`` is the wrong one
    (exits 3) and an ``srun`` that records its arguments."""
    repo = tmp_path / 'repo'
    os.makedirs(repo / 'tools' / 'misc')
    for name in (*SCRIPTS, 'misc/find_python.sh'):
        shutil.copy(osp.join(REPO, 'tools', name), repo / 'tools' / name)
    log = tmp_path / 'calls.log'
    bin_dir = tmp_path / 'bin'
    executable(bin_dir / 'python', 'echo "wrong python"; exit 3\n')
    executable(bin_dir / 'srun', f'echo "srun $*" >> {log}\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'PT3KD_VENV')}
    env['PATH'] = f'{bin_dir}:/usr/bin:/bin'
    return repo, log, env


def recording_python(path, log, tag):
    return executable(path, f'echo "{tag} $*" >> {log}\n')


def run(repo, script, env):
    return subprocess.run(['bash', str(repo / 'tools' / script), *SCRIPTS[script]], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_scripts_use_the_project_environment(sandbox, script):
    repo, log, env = sandbox
    venv_python = recording_python(repo / '.venv' / 'bin' / 'python', log, 'venv')
    proc = run(repo, script, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'wrong python' not in proc.stdout + proc.stderr
    calls = log.read_text()
    if script == 'slurm_train.sh':
        assert f'{venv_python} -u {repo}/tools/train.py cfg.py' in calls, calls
    else:
        tool = 'train.py' if script == 'dist_train.sh' else 'test.py'
        assert 'venv -m torch.distributed.run' in calls and f'tools/{tool}' in calls, calls


def test_python_and_pt3kd_venv_override(sandbox, tmp_path):
    repo, log, env = sandbox
    recording_python(repo / '.venv' / 'bin' / 'python', log, 'venv')
    other = recording_python(tmp_path / 'other' / 'bin' / 'python', log, 'other')
    proc = run(repo, 'dist_train.sh', dict(env, PYTHON=other))
    assert proc.returncode == 0, proc.stderr
    assert 'other -m torch.distributed.run' in log.read_text()
    assert not [line for line in log.read_text().splitlines() if line.startswith('venv ')]
    log.unlink()
    proc = run(repo, 'dist_train.sh', dict(env, PT3KD_VENV=str(tmp_path / 'other')))
    assert proc.returncode == 0, proc.stderr
    assert 'other -m torch.distributed.run' in log.read_text()


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_no_usable_python_is_an_error(sandbox, script):
    repo, log, env = sandbox  # no .venv: PATH's python, which cannot import torch
    proc = run(repo, script, env)
    assert proc.returncode == 1
    assert f"{script}: the interpreter 'python' is missing or cannot import torch" in proc.stderr
    assert 'tools/setup_env.sh' in proc.stderr and f'{repo}/.venv' in proc.stderr
    assert 'PYTHON=/path/to/bin/python' in proc.stderr
    assert not log.exists()  # neither torch.distributed.run nor srun started
