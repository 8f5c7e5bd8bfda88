"""Run a config for several seeds and write one table of a metric over them.

    python tools/analysis_tools/seeds.py CONFIG --seeds 0 1 2 --metric svm/accuracy \
        [--select last|best] [--rule greater|less] [--work-dir-root DIR] [--out PREFIX] \
        [--collect] [-- ARGS FOR tools/train.py]

Each seed trains with ``tools/train.py CONFIG --work-dir ROOT/seed_<s> ... --cfg-options
randomness.seed=<s>`` (one after the other; ROOT defaults to ``work_dirs/seeds/<config
name>``); ``--collect`` only reads existing work dirs. The value of each seed is read from its
work dir's logs: every run (``<timestamp>/`` folder, oldest first, so resumed runs continue
their history) contributes the lines of ``vis_data/scalars.json`` (training and validation
scalars, e.g. ``svm/accuracy``) and its ``<timestamp>.json`` (``tools/test.py``'s metrics);
``--select last`` takes the metric's last value, ``best`` its maximum (``--rule greater``) or
minimum (``less``). The table (``PREFIX.md`` and ``PREFIX.json``, default
``ROOT/seeds_<metric>``) holds each seed's value and work dir, mean +- sample standard
deviation (ddof=1), the config path, the git commit and the date.
"""
import argparse
import datetime
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: List[str] = []
    if '--' in argv:
        cut = argv.index('--')
        argv, train_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description='Train / collect a config over seeds')
    parser.add_argument('config', help='the config (trained, or named in the table)')
    parser.add_argument('--seeds', type=int, nargs='+', required=True, help='the seeds')
    parser.add_argument('--metric', required=True,
                        help='the logged key to tabulate, e.g. svm/accuracy or loss')
    parser.add_argument('--select', choices=['last', 'best'], default='last',
                        help="each seed's value: the metric's last logged value, or its best")
    parser.add_argument('--rule', choices=['greater', 'less'], default='greater',
                        help="what 'best' means")
    parser.add_argument('--work-dir-root', help='parent of the seed_<s> work dirs (default '
                        'work_dirs/seeds/<config name>)')
    parser.add_argument('--out', help='output prefix (default <root>/seeds_<metric>)')
    parser.add_argument('--collect', action='store_true',
                        help='read existing work dirs only, train nothing')
    args = parser.parse_args(argv)
    args.train_args = train_args
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds repeats a seed: {args.seeds}')
    if args.collect and train_args:
        parser.error('--collect trains nothing; drop the arguments after --')
    name = osp.splitext(osp.basename(args.config))[0]
    args.work_dir_root = args.work_dir_root or osp.join('work_dirs', 'seeds', name)
    args.out = args.out or osp.join(args.work_dir_root,
                                    'seeds_' + re.sub(r'[^A-Za-z0-9_.-]+', '_', args.metric))
    return args


def seed_work_dir(root: str, seed: int) -> str:
    return osp.join(root, f'seed_{seed}')


def train_command(config: str, seed: int, work_dir: str, train_args: Sequence[str]
                  ) -> List[str]:
    """``tools/train.py`` for one seed (a later ``--cfg-options`` merges with earlier ones)."""
    return [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
            *train_args, '--cfg-options', f'randomness.seed={seed}']


def run_training(cmd: List[str]) -> None:
    print('+ ' + ' '.join(cmd), flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise RuntimeError(f'training exited with {proc.returncode}: {" ".join(cmd)}')


def run_dirs(work_dir: str) -> List[str]:
    """The mmengine run folders (``<work_dir>/<YYYYmmdd_HHMMSS>/``) of ``work_dir``, oldest
    first."""
    return sorted(d for d in glob.glob(osp.join(work_dir, '*'))
                  if osp.isdir(d) and re.fullmatch(r'\d{8}_\d{6}', osp.basename(d)))


def read_scalars(path: str) -> List[dict]:
    """The records of a ``vis_data/scalars.json`` (one JSON object a line), in file order."""
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def logged_records(work_dir: str) -> List[Tuple[str, dict]]:
    """(file, record) of every logged scalar line / test dump in ``work_dir``'s runs, oldest
    run first, in file order."""
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir {work_dir} does not exist: train that seed first '
                                f'(run without --collect) or point --work-dir-root at the '
                                f'parent of the seed_<s> folders')
    records = []
    for run in run_dirs(work_dir):
        scalars = osp.join(run, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            records += [(scalars, rec) for rec in read_scalars(scalars)]
        dump = osp.join(run, osp.basename(run) + '.json')
        if osp.isfile(dump):
            with open(dump) as f:
                text = f.read().strip()
            if text:
                records.append((dump, json.loads(text)))
    if not records:
        raise FileNotFoundError(f'{work_dir} has no logs (<timestamp>/vis_data/scalars.json or '
                                f'<timestamp>/<timestamp>.json): did its run start?')
    return records


def seed_value(work_dir: str, metric: str, select: str = 'last',
               rule: str = 'greater') -> Tuple[float, str]:
    """The metric's last (or best) logged value in ``work_dir`` and the file it came from."""
    found = [(path, rec[metric]) for path, rec in logged_records(work_dir) if metric in rec]
    if not found:
        keys = sorted({k for _, rec in logged_records(work_dir) for k in rec})
        raise KeyError(f'metric {metric!r} is not logged in {work_dir}; logged keys: {keys}')
    if select == 'last':
        path, value = found[-1]
    else:
        pick = max if rule == 'greater' else min
        path, value = pick(found, key=lambda item: float(item[1]))
    return float(value), path


def git_commit() -> str:
    """HEAD of the repository (``-dirty`` when the tree has uncommitted changes)."""
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=REPO, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as err:
        return f'unknown ({REPO} is not a git checkout: {err})'
    return head + ('-dirty' if dirty else '')


def summarize(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """mean, sample standard deviation (ddof=1; None for one value), n."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return dict(mean=float(arr.mean()), std=std, n=len(arr))


def build_table(config: str, metric: str, select: str, rule: str,
                rows: List[dict]) -> dict:
    stats = summarize([r['value'] for r in rows])
    what = 'last value' if select == 'last' else f'best value ({rule} is better)'
    return dict(config=config, metric=metric, select=select, rule=rule, value_is=what,
                git_commit=git_commit(),
                date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                seeds=rows, mean=stats['mean'], std=stats['std'], n=stats['n'],
                std_kind='sample standard deviation (ddof=1)')


def format_markdown(table: dict) -> str:
    def num(v: Optional[float]) -> str:
        return 'n/a' if v is None else f'{v:.4f}'
    std = num(table['std']) + (' (one seed)' if table['n'] < 2 else '')
    lines = [
        f"{table['metric']} over {table['n']} seeds ({table['value_is']} of each run); "
        f"mean +- {table['std_kind']}",
        f"config: {table['config']}; git commit: {table['git_commit']}; date: "
        f"{table['date']}", '',
        f"| seed | {table['metric']} | work dir |", '| --- | --- | --- |'
    ]
    lines += [f"| {r['seed']} | {num(r['value'])} | {r['work_dir']} |" for r in table['seeds']]
    lines.append(f"| mean +- std | {num(table['mean'])} +- {std} | |")
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if not args.collect:
        if not osp.isfile(args.config):
            raise FileNotFoundError(f'config {args.config} does not exist')
        for seed in args.seeds:
            run_training(train_command(args.config, seed,
                                       seed_work_dir(args.work_dir_root, seed),
                                       args.train_args))
    rows = []
    for seed in args.seeds:
        work_dir = seed_work_dir(args.work_dir_root, seed)
        value, source = seed_value(work_dir, args.metric, args.select, args.rule)
        rows.append(dict(seed=seed, value=value, work_dir=work_dir, source=source))
    table = build_table(args.config, args.metric, args.select, args.rule, rows)
    text = format_markdown(table)
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out + '.md', 'w') as f:
        f.write(text)
    with open(args.out + '.json', 'w') as f:
        json.dump(table, f, indent=1)
    print(text + f'written: {args.out}.md, {args.out}.json', flush=True)
    return table


if __name__ == '__main__':
    main()
