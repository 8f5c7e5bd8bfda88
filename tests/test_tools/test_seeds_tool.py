"""tools/analysis_tools/seeds.py on synthetic work dirs with known values."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest

from pt3kd_mm.testing import REPO, load_tool

seeds = load_tool('tools/analysis_tools/seeds.py')
CFG = osp.join(REPO, 'configs/point_mae_pretrain_demo.py')


def write_run(work_dir, stamp, scalars=(), test_metrics=None):
    """A mmengine run folder: <stamp>/vis_data/scalars.json lines (+ <stamp>/<stamp>.json)."""
    run = osp.join(work_dir, stamp)
    os.makedirs(osp.join(run, 'vis_data'), exist_ok=True)
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'w') as f:
        f.writelines(json.dumps(rec) + '\n' for rec in scalars)
    if test_metrics is not None:
        with open(osp.join(run, f'{stamp}.json'), 'w') as f:
            json.dump(test_metrics, f)


def synthetic_root(tmp_path):
    """Seeds 0, 1, 2 with svm/accuracy over epochs; seed 1 resumed in a second run; seed 2
    also tested (tools/test.py's dump)."""
    root = str(tmp_path / 'seeds')
    acc = {0: [50.0, 70.0, 65.0], 1: [40.0, 80.0, 75.0], 2: [55.0, 60.0, 90.0]}
    for seed, values in acc.items():
        recs = [dict(loss=1.0 / (i + 1), step=i + 1) for i in range(3)]
        recs += [{'svm/accuracy': v, 'step': i + 1} for i, v in enumerate(values)]
        if seed == 1:  # the last value comes from the resumed (later) run
            write_run(osp.join(root, 'seed_1'), '20260101_000000', recs[:3] + recs[3:5])
            write_run(osp.join(root, 'seed_1'), '20260102_000000', recs[5:])
        else:
            write_run(osp.join(root, f'seed_{seed}'), '20260101_000000', recs,
                      test_metrics={'recon/chamfer_l2_x1000': 11.5} if seed == 2 else None)
    os.makedirs(osp.join(root, 'seed_0', 'svm_probe'))  # not a run folder: ignored
    return root, acc


@pytest.mark.parametrize('select,rule,pick', [
    ('last', 'greater', lambda v: v[-1]),
    ('best', 'greater', max),
    ('best', 'less', min),
])
def test_table_from_synthetic_work_dirs(tmp_path, select, rule, pick):
    root, acc = synthetic_root(tmp_path)
    out = str(tmp_path / 'table')
    table = seeds.main([CFG, '--seeds', '0', '1', '2', '--metric', 'svm/accuracy',
                        '--select', select, '--rule', rule, '--collect',
                        '--work-dir-root', root, '--out', out])
    expected = [pick(acc[s]) for s in (0, 1, 2)]
    assert [r['value'] for r in table['seeds']] == expected
    assert table['mean'] == pytest.approx(np.mean(expected))
    assert table['std'] == pytest.approx(np.std(expected, ddof=1))
    assert table['std_kind'] == 'sample standard deviation (ddof=1)'
    assert table['config'] == CFG and table['n'] == 3
    saved = json.load(open(out + '.json'))
    assert saved['mean'] == table['mean'] and saved['git_commit'] == table['git_commit']
    assert len(saved['git_commit'].replace('-dirty', '')) == 40  # this is a git checkout
    md = open(out + '.md').read()
    assert f"| mean +- std | {np.mean(expected):.4f} +- {np.std(expected, ddof=1):.4f} |" in md
    assert f'| 1 | {expected[1]:.4f} | {root}/seed_1 |' in md and CFG in md


def test_test_metrics_and_default_output(tmp_path, monkeypatch):
    root, _ = synthetic_root(tmp_path)
    table = seeds.main([CFG, '--seeds', '2', '--metric', 'recon/chamfer_l2_x1000',
                        '--collect', '--work-dir-root', root])
    assert table['seeds'][0]['value'] == 11.5 and table['std'] is None
    assert table['seeds'][0]['source'].endswith('20260101_000000.json')
    assert osp.isfile(osp.join(root, 'seeds_recon_chamfer_l2_x1000.md'))


def test_missing_metric_and_work_dir_are_errors(tmp_path):
    root, _ = synthetic_root(tmp_path)
    with pytest.raises(KeyError, match=r"'svm/acc' is not logged in .*seed_0.*'svm/accuracy'"):
        seeds.main([CFG, '--seeds', '0', '--metric', 'svm/acc', '--collect',
                    '--work-dir-root', root])
    with pytest.raises(FileNotFoundError, match='seed_7 does not exist.*without --collect'):
        seeds.main([CFG, '--seeds', '0', '7', '--metric', 'svm/accuracy', '--collect',
                    '--work-dir-root', root])
    os.makedirs(osp.join(root, 'seed_8', 'svm_probe'))
    with pytest.raises(FileNotFoundError, match='seed_8 has no logs'):
        seeds.main([CFG, '--seeds', '8', '--metric', 'svm/accuracy', '--collect',
                    '--work-dir-root', root])


def test_training_commands_carry_seed_and_work_dir(tmp_path, monkeypatch):
    """Without --collect every seed trains once, in its own work dir, with its seed last."""
    ran = []

    def fake_training(cmd):
        ran.append(cmd)
        seed = int(cmd[-1].split('=')[1])
        write_run(cmd[cmd.index('--work-dir') + 1], '20260101_000000',
                  [{'svm/accuracy': 10.0 * seed, 'step': 1}])

    monkeypatch.setattr(seeds, 'run_training', fake_training)
    root = str(tmp_path / 'r')
    table = seeds.main([CFG, '--seeds', '1', '2', '--metric', 'svm/accuracy',
                        '--work-dir-root', root, '--', '--amp', '--cfg-options',
                        'train_cfg.max_epochs=1'])
    assert ran == [[sys.executable, osp.join(REPO, 'tools', 'train.py'), CFG, '--work-dir',
                    osp.join(root, f'seed_{s}'), '--amp', '--cfg-options',
                    'train_cfg.max_epochs=1', '--cfg-options', f'randomness.seed={s}']
                   for s in (1, 2)]
    assert [r['value'] for r in table['seeds']] == [10.0, 20.0]
    with pytest.raises(SystemExit):
        seeds.main([CFG, '--seeds', '1', '1', '--metric', 'loss'])
