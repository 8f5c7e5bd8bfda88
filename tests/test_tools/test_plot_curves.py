"""tools/analysis_tools/plot_curves.py on hand-written mmengine logs with known values, and the
headless-chromium check of its HTML (pt3kd_mm.testing.browser)."""
import json
import os
import os.path as osp
import struct

import numpy as np
import pytest

from pt3kd_mm.testing import load_tool
from pt3kd_mm.testing.browser import check_html_in_chromium, open_in_chromium

curves = load_tool('tools/analysis_tools/plot_curves.py')


def write_run(work_dir, stamp, records, config=None):
    """<work_dir>/<stamp>/vis_data/scalars.json (+ the dumped config.py)."""
    vis = osp.join(work_dir, stamp, 'vis_data')
    os.makedirs(vis, exist_ok=True)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)
    if config is not None:
        with open(osp.join(vis, 'config.py'), 'w') as f:
            f.write(config)
    return work_dir


def epoch_log(losses, accs, lr=0.1):
    """An epoch-based log: 4 iterations an epoch, logged every 2, validation after each
    epoch (``step`` = the epoch, as mmengine's log_metric_by_epoch); losses[i] at iter
    2 * (i + 1)."""
    recs = []
    for i, loss in enumerate(losses):
        it = 2 * (i + 1)
        epoch = (it - 1) // 4 + 1
        recs.append(dict(lr=lr, loss=loss, time=0.5, epoch=epoch, iter=it, step=it))
        if it % 4 == 0 and epoch <= len(accs):
            recs.append({'accuracy/top1': accs[epoch - 1], 'data_time': 0.1, 'time': 0.2,
                         'step': epoch})
    return recs


# seed 2's run stops after iteration 6: the band covers the iterations 2, 4, 6 only
SEEDS = {0: ([4.0, 3.0, 2.0, 1.0], [50.0, 70.0]),
         1: ([6.0, 5.0, 4.0, 3.0], [60.0, 90.0]),
         2: ([7.0, 4.0, 3.5], [40.0])}


@pytest.fixture
def seed_dirs(tmp_path):
    return [write_run(str(tmp_path / 'exp' / name), '20260101_000000', epoch_log(*SEEDS[s]))
            for s, name in ((0, 'seed0'), (1, 'seed1'), (2, 'seed_2'))]


def test_curves_over_iterations_and_epochs(seed_dirs):
    recs = curves.load_records(seed_dirs[0])
    loss = curves.extract_curve(recs, 'loss', 'iter')
    assert loss.xs.tolist() == [2, 4, 6, 8] and loss.ys.tolist() == [4, 3, 2, 1]
    # validation after epoch e: at the last training iteration logged before it
    acc = curves.extract_curve(recs, 'accuracy/top1', 'iter')
    assert acc.xs.tolist() == [4, 8] and acc.ys.tolist() == [50, 70]
    # per epoch: the mean of the epoch's logged training values; validation at its epoch
    loss = curves.extract_curve(recs, 'loss', 'epoch')
    assert loss.xs.tolist() == [1, 2] and loss.ys.tolist() == [3.5, 1.5]
    acc = curves.extract_curve(recs, 'accuracy/top1', 'epoch')
    assert acc.xs.tolist() == [1, 2] and acc.ys.tolist() == [50, 70]
    # 'time' is in training and validation lines: the training one is taken
    assert curves.extract_curve(recs, 'time', 'iter').ys.tolist() == [0.5] * 4
    assert curves.extract_curve(recs, 'loss_cls', 'iter') is None


def test_iteration_based_loop_and_resumed_runs(tmp_path):
    work = str(tmp_path / 'iter_based')
    first = [dict(lr=0.1, loss=3.0, iter=10, step=10), dict(lr=0.1, loss=2.0, iter=20, step=20),
             {'svm/accuracy': 55.0, 'step': 20}, dict(lr=0.1, loss=9.0, iter=30, step=30)]
    resumed = [dict(lr=0.1, loss=1.5, iter=30, step=30), {'svm/accuracy': 65.0, 'step': 30}]
    write_run(work, '20260101_000000', first)
    write_run(work, '20260102_000000', resumed)
    latest = curves.load_records(work)
    assert curves.extract_curve(latest, 'loss').xs.tolist() == [30]
    every = curves.load_records(work, all_runs=True)
    loss = curves.extract_curve(every, 'loss')
    assert loss.xs.tolist() == [10, 20, 30] and loss.ys.tolist() == [3, 2, 1.5]  # resumed wins
    acc = curves.extract_curve(every, 'svm/accuracy')  # step is the iteration here
    assert acc.xs.tolist() == [20, 30] and acc.ys.tolist() == [55, 65]
    with pytest.raises(ValueError, match='iteration-based: use --x iter'):
        curves.extract_curve(every, 'loss', 'epoch')


def test_mean_and_std_at_the_iterations_every_seed_logged(seed_dirs):
    loss = [curves.extract_curve(curves.load_records(d), 'loss') for d in seed_dirs]
    band = curves.mean_std(loss)
    assert band.n == 3 and band.xs.tolist() == [2, 4, 6]
    # by hand: iter 2 [4, 6, 7], iter 4 [3, 5, 4], iter 6 [2, 4, 3.5]; sample std (ddof=1)
    np.testing.assert_allclose(band.mean, [17 / 3, 4, 19 / 6])
    np.testing.assert_allclose(band.std, [np.sqrt(7 / 3), 1, np.sqrt(13 / 12)])
    assert curves.mean_std(loss[:1]) is None


CONFIG = """model = dict(type='X', lr={lr})
randomness = dict(deterministic=False, seed={seed})
work_dir = '{work_dir}'
"""


def test_grouping_by_path_and_by_dumped_config(seed_dirs, tmp_path):
    alone = write_run(str(tmp_path / 'baseline'), '20260101_000000', epoch_log([1.0], []))
    by_cfg = [write_run(str(tmp_path / name), '20260101_000000', epoch_log([1.0], []),
                        CONFIG.format(lr=lr, seed=seed, work_dir=tmp_path / name))
              for name, lr, seed in (('run_a', 0.1, 3), ('run_b', 0.1, 4), ('run_c', 0.2, 5))]
    groups = curves.group_work_dirs(seed_dirs + [alone] + by_cfg)
    assert [g.label for g in groups] == [
        osp.join(str(tmp_path), 'exp', 'seed*'), osp.join(str(tmp_path), 'baseline'),
        osp.join(str(tmp_path), 'run_') + '*', osp.join(str(tmp_path), 'run_c')]
    assert [[m.seed for m in g.members] for g in groups] == [[0, 1, 2], [None], [3, 4], [5]]
    assert [m.work_dir for m in groups[2].members] == by_cfg[:2]
    # a lone run goes by its own path
    assert curves.group_work_dirs(seed_dirs[:1])[0].label == seed_dirs[0]
    # no grouping: one group a dir
    assert len(curves.group_work_dirs(seed_dirs, regex=None)) == 3
    with pytest.raises(ValueError, match='repeat a seed'):
        curves.group_work_dirs([seed_dirs[0], seed_dirs[0]])


def test_errors_name_the_dir_and_the_logged_keys(seed_dirs, tmp_path):
    empty = str(tmp_path / 'empty')
    os.makedirs(osp.join(empty, '20260101_000000'))
    with pytest.raises(FileNotFoundError, match=f'{empty} has no mmengine scalar log'):
        curves.load_records(empty)
    with pytest.raises(KeyError, match=r"'accuracy/top5' is logged in none of .*logged keys: "
                       r"\['accuracy/top1', 'data_time', 'loss', 'lr', 'time'\]"):
        curves.main(seed_dirs + ['--keys', 'loss', 'accuracy/top5', '--out',
                                 str(tmp_path / 'x.png')])
    with pytest.raises(ValueError, match='--legend gives 2 labels for 1 groups'):
        curves.main(seed_dirs + ['--legend', 'a', 'b', '--out', str(tmp_path / 'x.png')])


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', head[16:24])


def test_cli_writes_png_and_self_contained_html(seed_dirs, tmp_path, capsys):
    png, html = str(tmp_path / 'out' / 'curves.png'), str(tmp_path / 'out' / 'curves.html')
    curves.main(seed_dirs + ['--keys', 'loss', 'lr', 'accuracy/top1', '--out', png, '--html',
                             html, '--size', '800', '400', '--legend', 'tiny'])
    assert png_size(png) == (800, 400) and osp.getsize(png) > 5000
    text = open(html).read()
    assert 'std, 3 seeds)' in text and 'tiny seed 2' in text
    assert '<script src=' not in text  # plotly.js inline: opens offline
    out = capsys.readouterr().out
    assert 'loss | tiny | at iter 6: 3.167 ± 1 (3 seeds)' in out
    assert 'accuracy/top1 | tiny | at iter 4: 50 ± 10 (3 seeds)' in out


def test_chromium_reports_a_thrown_error(chromium, tmp_path):
    page = tmp_path / 'boom.html'
    page.write_text('<!DOCTYPE html><html><head></head><body><p>x</p><script>'
                    "console.log('fine'); throw new Error('boom');</script></body></html>")
    errors = check_html_in_chromium(page)
    assert len(errors) == 1 and 'Uncaught Error: boom' in errors[0], errors
    assert not [f for f in os.listdir(tmp_path) if f != 'boom.html']  # its copy is removed


def test_chromium_opens_the_plotly_page_without_errors(chromium, seed_dirs, tmp_path):
    html = str(tmp_path / 'curves.html')
    curves.main(seed_dirs + ['--keys', 'loss', 'accuracy/top1', '--out',
                             str(tmp_path / 'curves.png'), '--html', html])
    page = open_in_chromium(html)
    assert page.errors == [], page.errors
    assert page.dom.count('class="main-svg"') >= 2  # plotly drew the figure
