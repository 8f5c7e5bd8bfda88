"""Training curves (loss, lr, metrics) of one or several work dirs, seeds overlaid with their
mean +- std (as mmdet's ``tools/analysis_tools/analyze_logs.py plot_curve``).

    python tools/analysis_tools/plot_curves.py WORK_DIR [WORK_DIR ...] \
        --keys loss lr accuracy/top1 --out curves.png [--html curves.html] [--x iter|epoch] \
        [--group-by-seed-regex REGEX | --no-group] [--legend NAME ...] [--all-runs] \
        [--size WIDTH HEIGHT] [--title TEXT]

Logs: mmengine's ``<work_dir>/<YYYYmmdd_HHMMSS>/vis_data/scalars.json`` of the latest run
(``--all-runs``: every run, oldest first, so a resumed run continues the history and a value
logged again at the same step replaces the older one). Training lines carry ``iter`` (and
``epoch`` in epoch-based loops), ``lr``, ``loss*``; validation lines the metric keys and
``step`` (the epoch in epoch-based loops, else the iteration). A key is read from the training
lines when they have it, else from the validation lines.

x axis: ``--x iter`` puts training values at their iteration and a validation value at the
iteration of the last training line logged before it; ``--x epoch`` (epoch-based loops only)
puts a training key's mean over each epoch's logged values at that epoch and validation
values at their epoch.

Seeds: work dirs whose paths differ only where ``--group-by-seed-regex`` (default
``seed_?(\\d+)``, so ``seed0`` and ``seed_0``) matches form one group; when a path has no
match, dirs whose dumped configs (``<run>/vis_data/config.py`` or ``<work_dir>/*.py``) differ
only in ``randomness.seed`` (and ``work_dir``) do. Each seed is drawn thin, the group's mean
thick with a +- std band (sample std, ddof=1, over the seeds at the x values every seed
logged). One subplot per key; a PNG via matplotlib (Agg, headless) and, with ``--html``, a
self-contained plotly page (plotly.js inline).
"""
import argparse
import ast
import glob
import math
import os
import os.path as osp
import re
import sys
from functools import reduce
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from seeds import read_scalars, run_dirs  # noqa: E402  (a sibling tool)

DEFAULT_SEED_REGEX = r'seed_?(\d+)'
X_KINDS = ('iter', 'epoch')


class Curve(NamedTuple):
    """One key of one work dir: sorted unique x values and their values, shape (N,) each."""
    xs: np.ndarray
    ys: np.ndarray


class Member(NamedTuple):
    """A work dir in a group and its seed (None when it has none)."""
    work_dir: str
    seed: Optional[int]


class Group(NamedTuple):
    """Work dirs that differ only by seed, with the label they are drawn under."""
    label: str
    members: List[Member]


class Band(NamedTuple):
    """Mean and sample std (ddof=1) over seeds at the x values every seed has, shape (M,)."""
    xs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: int


# ---------------------------------------------------------------------- reading the logs
def load_records(work_dir: str, all_runs: bool = False) -> List[dict]:
    """The ``vis_data/scalars.json`` records of the latest run of ``work_dir`` (every run,
    oldest first, with ``all_runs``), in file order."""
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir {work_dir} does not exist')
    runs = [r for r in run_dirs(work_dir)
            if osp.isfile(osp.join(r, 'vis_data', 'scalars.json'))]
    if not runs:
        raise FileNotFoundError(
            f'{work_dir} has no mmengine scalar log (<YYYYmmdd_HHMMSS>/vis_data/scalars.json): '
            f'give the work dir of a training run (the folder tools/train.py --work-dir wrote)')
    records = []
    for run in runs if all_runs else runs[-1:]:
        records += read_scalars(osp.join(run, 'vis_data', 'scalars.json'))
    return records


def is_train_record(rec: dict) -> bool:
    """mmengine's training lines carry ``iter`` (validation lines only ``step``)."""
    return 'iter' in rec


def logged_keys(records: Sequence[dict]) -> List[str]:
    """Every key the records log, x bookkeeping (``iter``, ``epoch``, ``step``) left out."""
    return sorted({k for rec in records for k in rec} - {'iter', 'epoch', 'step'})


def extract_curve(records: Sequence[dict], key: str, x: str = 'iter') -> Optional[Curve]:
    """``key`` over ``x`` (``'iter'`` or ``'epoch'``, see the module doc) in ``records`` (file
    order), or None when no record has it. A later value at the same x replaces an earlier
    one (a resumed run)."""
    if x not in X_KINDS:
        raise ValueError(f'x must be one of {X_KINDS}, got {x!r}')
    train = [r for r in records if is_train_record(r)]
    epoch_based = any('epoch' in r for r in train)
    if x == 'epoch' and not epoch_based:
        raise ValueError('--x epoch needs an epoch-based loop (training lines with "epoch"); '
                         'these logs are iteration-based: use --x iter')
    from_train = any(key in r for r in train)
    points: Dict[float, object] = {}
    if from_train:
        per_iter = {r['iter']: r for r in train if key in r}  # later lines win
        if x == 'iter':
            points = {it: r[key] for it, r in per_iter.items()}
        else:
            by_epoch: Dict[int, List[float]] = {}
            for r in per_iter.values():
                by_epoch.setdefault(r['epoch'], []).append(r[key])
            points = {ep: float(np.mean(v)) for ep, v in by_epoch.items()}
    else:
        last_iter = 0
        for r in records:
            if is_train_record(r):
                last_iter = r['iter']
            elif key in r:
                if x == 'epoch' or not epoch_based:
                    points[r['step']] = r[key]
                else:
                    points[last_iter] = r[key]
    if not points:
        return None
    xs = np.array(sorted(points), dtype=np.float64)
    return Curve(xs, np.array([float(points[v]) for v in sorted(points)], dtype=np.float64))


# ---------------------------------------------------------------------- seeds and groups
def dumped_config(work_dir: str) -> Optional[str]:
    """The config mmengine dumped for ``work_dir``'s latest run (``<run>/vis_data/config.py``,
    else ``<work_dir>/*.py``), or None."""
    for run in reversed(run_dirs(work_dir)):
        path = osp.join(run, 'vis_data', 'config.py')
        if osp.isfile(path):
            return path
    found = sorted(glob.glob(osp.join(work_dir, '*.py')))
    return found[0] if found else None


def config_seed_and_rest(path: str) -> Tuple[Optional[int], str]:
    """``randomness.seed`` of a dumped config (None when unset) and a fingerprint of the rest
    (every top-level assignment but ``work_dir``, the seed left out of ``randomness``)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    seed, rest = None, []
    for node in tree.body:
        names = [t.id for t in getattr(node, 'targets', []) if isinstance(t, ast.Name)]
        if names == ['work_dir']:
            continue
        if (names == ['randomness'] and isinstance(node.value, ast.Call)):
            kept = []
            for kw in node.value.keywords:
                if kw.arg == 'seed':
                    try:
                        seed = int(ast.literal_eval(kw.value))
                    except (ValueError, TypeError):
                        seed = None
                else:
                    kept.append(kw)
            node = ast.Assign(targets=node.targets, value=ast.Call(
                func=node.value.func, args=node.value.args, keywords=kept), lineno=0)
        rest.append(ast.dump(node))
    return seed, '\n'.join(rest)


def seed_from_path(work_dir: str, regex: str) -> Optional[Tuple[int, str]]:
    """(seed, path with the seed part replaced by ``seed*``) when ``regex`` matches the path;
    the seed is the regex's first group, else the match's first number."""
    path = osp.normpath(work_dir)
    match = None
    for match in re.finditer(regex, path):
        pass  # the last match: the innermost folder
    if match is None:
        return None
    if match.groups():
        digits = match.group(1)
    else:
        number = re.search(r'\d+', match.group(0))
        digits = number.group(0) if number else None
    if not digits:
        return None
    return int(digits), path[:match.start()] + 'seed*' + path[match.end():]


def group_work_dirs(work_dirs: Sequence[str], regex: Optional[str] = DEFAULT_SEED_REGEX
                    ) -> List[Group]:
    """Group the work dirs that differ only by seed (see the module doc), in the order of
    their first member; ``regex=None`` gives every dir its own group."""
    groups: Dict[object, Group] = {}
    for work_dir in work_dirs:
        key, label, seed = ('dir', work_dir), osp.normpath(work_dir), None
        by_path = seed_from_path(work_dir, regex) if regex else None
        if by_path is not None:
            seed, label = by_path
            key = ('path', label)
        elif regex:
            cfg = dumped_config(work_dir)
            if cfg is not None:
                seed, rest = config_seed_and_rest(cfg)
                if seed is not None:
                    key = ('config', rest)
        if key not in groups:
            groups[key] = Group(label, [])
        groups[key].members.append(Member(work_dir, seed))
    out = []
    for key, group in groups.items():
        if len(group.members) == 1:  # a lone run goes by its own path
            group = Group(osp.normpath(group.members[0].work_dir), group.members)
        elif key[0] == 'config':
            paths = [osp.normpath(m.work_dir) for m in group.members]
            prefix = osp.commonprefix(paths)
            group = Group((prefix + '*') if prefix else paths[0], group.members)
        seeds = [m.seed for m in group.members if m.seed is not None]
        if len(seeds) != len(set(seeds)):
            raise ValueError(f'the work dirs of {group.label} repeat a seed '
                             f'({[m.work_dir for m in group.members]}): give each seed once')
        out.append(group)
    return out


def mean_std(curves: Sequence[Curve]) -> Optional[Band]:
    """Mean and sample std (ddof=1) over ``curves`` at the x values all of them have; None
    with fewer than two curves or no shared x."""
    if len(curves) < 2:
        return None
    common = reduce(np.intersect1d, [c.xs for c in curves])
    if common.size == 0:
        return None
    stack = np.stack([c.ys[np.searchsorted(c.xs, common)] for c in curves])
    return Band(common, stack.mean(0), stack.std(0, ddof=1), len(curves))


def collect(groups: Sequence[Group], keys: Sequence[str], x: str = 'iter',
            all_runs: bool = False) -> Dict[str, List[Tuple[Group, List[Tuple[Member, Curve]]]]]:
    """For every key, every group's (member, curve) pairs. A key no log has is an error that
    lists the logged keys; a member without the key is left out of that key with a note."""
    records = {m.work_dir: load_records(m.work_dir, all_runs) for g in groups
               for m in g.members}
    out = {}
    for key in keys:
        per_group = []
        for group in groups:
            pairs = []
            for member in group.members:
                curve = extract_curve(records[member.work_dir], key, x)
                if curve is None:
                    print(f'note: {member.work_dir} does not log {key!r}', file=sys.stderr)
                else:
                    pairs.append((member, curve))
            per_group.append((group, pairs))
        if not any(pairs for _, pairs in per_group):
            known = sorted({k for recs in records.values() for k in logged_keys(recs)})
            raise KeyError(f'{key!r} is logged in none of {list(records)}; logged keys: '
                           f'{known}')
        out[key] = per_group
    return out


# ---------------------------------------------------------------------- drawing
def _layout(num_keys: int) -> Tuple[int, int]:
    cols = min(num_keys, 3)
    return math.ceil(num_keys / cols), cols


def _seed_name(member: Member) -> str:
    return f'seed {member.seed}' if member.seed is not None else osp.basename(member.work_dir)


def _colors(n: int) -> List[Tuple[float, float, float, float]]:
    from matplotlib import colormaps
    cmap = colormaps['tab10']
    return [cmap(i % 10) for i in range(n)]


def draw_png(data, labels: Sequence[str], out: str, x: str, size: Tuple[int, int],
             title: Optional[str] = None, dpi: int = 100) -> None:
    """One subplot per key: seeds thin, the mean thick over a +- std band."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows, cols = _layout(len(data))
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi,
                             squeeze=False)
    colors = _colors(len(labels))
    for ax, (key, per_group) in zip(axes.flat, data.items()):
        for color, label, (group, pairs) in zip(colors, labels, per_group):
            curves = [c for _, c in pairs]
            band = mean_std(curves)
            if band is None:
                for i, c in enumerate(curves):
                    ax.plot(c.xs, c.ys, color=color, lw=1.4, label=label if i == 0 else None)
                continue
            for c in curves:
                ax.plot(c.xs, c.ys, color=color, lw=0.7, alpha=0.45)
            ax.fill_between(band.xs, band.mean - band.std, band.mean + band.std, color=color,
                            alpha=0.2, lw=0)
            ax.plot(band.xs, band.mean, color=color, lw=1.8,
                    label=f'{label} (mean ± std, {band.n} seeds)')
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(x, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(data):]:
        ax.axis('off')
    handles, names = axes.flat[0].get_legend_handles_labels()
    if handles:
        axes.flat[0].legend(handles, names, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def draw_html(data, labels: Sequence[str], out: str, x: str, size: Tuple[int, int],
              title: Optional[str] = None) -> None:
    """The PNG's figure as a self-contained plotly page (plotly.js inline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    rows, cols = _layout(len(data))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(data))

    def rgba(color, alpha):
        r, g, b = (int(round(255 * v)) for v in color[:3])
        return f'rgba({r},{g},{b},{alpha})'

    colors = _colors(len(labels))
    for k, (key, per_group) in enumerate(data.items()):
        row, col = k // cols + 1, k % cols + 1
        for color, label, (group, pairs) in zip(colors, labels, per_group):
            band = mean_std([c for _, c in pairs])
            for member, c in pairs:
                fig.add_trace(go.Scatter(
                    x=c.xs, y=c.ys, mode='lines', name=f'{label} {_seed_name(member)}',
                    legendgroup=label, showlegend=band is None and k == 0,
                    line=dict(color=rgba(color, 0.5 if band else 1.0),
                              width=1 if band else 2)), row=row, col=col)
            if band is None:
                continue
            fig.add_trace(go.Scatter(
                x=np.concatenate([band.xs, band.xs[::-1]]),
                y=np.concatenate([band.mean + band.std, (band.mean - band.std)[::-1]]),
                fill='toself', fillcolor=rgba(color, 0.2), line=dict(width=0),
                hoverinfo='skip', legendgroup=label, showlegend=False, name=f'{label} ± std'),
                row=row, col=col)
            fig.add_trace(go.Scatter(
                x=band.xs, y=band.mean, mode='lines', legendgroup=label, showlegend=k == 0,
                name=f'{label} (mean ± std, {band.n} seeds)',
                line=dict(color=rgba(color, 1.0), width=2.5)), row=row, col=col)
        fig.update_xaxes(title_text=x, row=row, col=col)
    fig.update_layout(width=size[0], height=size[1], title=title, template='plotly_white')
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.write_html(out, include_plotlyjs=True, full_html=True)


# ---------------------------------------------------------------------- command line
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plot training curves of work dirs, seeds '
                                     'overlaid with mean +- std')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of training runs')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='logged keys, one subplot each (e.g. loss lr accuracy/top1)')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--html', help='also write a self-contained plotly HTML page')
    parser.add_argument('--x', choices=X_KINDS, default='iter', help='the x axis')
    grouping = parser.add_mutually_exclusive_group()
    grouping.add_argument('--group-by-seed-regex', default=DEFAULT_SEED_REGEX,
                          help='regex over the work dir path whose match is the seed '
                          '(default %(default)s)')
    grouping.add_argument('--no-group', action='store_true',
                          help='draw every work dir on its own (no seed groups)')
    parser.add_argument('--legend', nargs='+', help='one label per group (default: the path '
                        'with its seed part as seed*)')
    parser.add_argument('--all-runs', action='store_true', help="every run's log of a work "
                        'dir, oldest first (default: the latest run only)')
    parser.add_argument('--size', nargs=2, type=int, metavar=('WIDTH', 'HEIGHT'),
                        help='figure size in pixels (default 420 x 320 per subplot)')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, list]:
    args = parse_args(argv)
    groups = group_work_dirs(args.work_dirs,
                             None if args.no_group else args.group_by_seed_regex)
    labels = [g.label for g in groups]
    if args.legend:
        if len(args.legend) != len(groups):
            raise ValueError(f'--legend gives {len(args.legend)} labels for {len(groups)} '
                             f'groups: {labels}')
        labels = list(args.legend)
    data = collect(groups, args.keys, args.x, args.all_runs)
    rows, cols = _layout(len(data))
    size = tuple(args.size) if args.size else (420 * cols, 320 * rows)
    draw_png(data, labels, args.out, args.x, size, args.title)
    print(f'written: {args.out}')
    if args.html:
        draw_html(data, labels, args.html, args.x, size, args.title)
        print(f'written: {args.html}')
    for key, per_group in data.items():
        for label, (group, pairs) in zip(labels, per_group):
            band = mean_std([c for _, c in pairs])
            if band is not None:
                print(f'{key} | {label} | at {args.x} {band.xs[-1]:g}: '
                      f'{band.mean[-1]:.4g} ± {band.std[-1]:.2g} ({band.n} seeds)')
            for member, c in pairs if band is None else []:
                print(f'{key} | {label} | at {args.x} {c.xs[-1]:g}: {c.ys[-1]:.4g}')
    return data


if __name__ == '__main__':
    main()
