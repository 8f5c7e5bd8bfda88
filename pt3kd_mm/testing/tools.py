"""Running the repository's command-line tools from tests and benchmarks."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Dict, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_tool(args: Sequence[str], extra_env: Optional[Dict[str, str]] = None,
             **kwargs) -> str:
    """Run ``args`` (e.g. ``['tools/train.py', CFG, ...]``; a leading ``.py`` path runs under
    this interpreter) in the repository root with one OpenMP thread; a non-zero exit fails with
    the tail of its output. Returns stdout + stderr."""
    args = list(args)
    if args and args[0].endswith('.py'):
        args.insert(0, sys.executable)
    env = dict(os.environ, OMP_NUM_THREADS='1', **(extra_env or {}))
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, args))} exited with {proc.returncode}:\n'
                             f'{proc.stdout[-3000:]}{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


def load_tool(relpath: str) -> ModuleType:
    """Import a tool script (e.g. ``'tools/cache_teacher_features.py'``) as a module, to call
    its functions."""
    path = osp.join(REPO, relpath)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'pt3kd_mm_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
