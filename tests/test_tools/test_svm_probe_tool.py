"""tools/analysis_tools/svm_probe.py: pre-trained vs randomly initialised encoders; and
tools/analysis_tools/seeds.py training a config over seeds for real."""
import json
import os.path as osp
import re

import pytest
import torch
from mmdet3d.registry import MODELS

from pt3kd_mm.testing import REPO, load_tool, run_tool

TINY = osp.join(REPO, 'tests/configs/tiny_point_mae.py')
ENC = dict(type='PointPatchTransformer', embed_dims=16, depth=1, num_heads=2, num_groups=8,
           group_size=8)


def data_options(root):
    return [f'train_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'val_cfg.svm_train_dataloader.dataset.data_root={root}']


@pytest.mark.e2e
def test_seeds_then_probe_pretrained_and_random(demo_root, tmp_path):
    """One seed of 1 epoch through seeds.py (train + table from the real logs), then the
    probe of its checkpoint beside a random encoder: the checkpoint's accuracy is the one its
    training validation logged (same encoder, data and SVM)."""
    root = str(tmp_path / 'seeds')
    out = run_tool(['tools/analysis_tools/seeds.py', TINY, '--seeds', '3', '--metric',
                    'svm/accuracy', '--work-dir-root', root, '--', '--cfg-options',
                    *data_options(demo_root), 'train_cfg.max_epochs=1'])
    table = json.load(open(osp.join(root, 'seeds_svm_accuracy.json')))
    assert [r['seed'] for r in table['seeds']] == [3] and table['std'] is None
    value = table['seeds'][0]['value']
    assert table['mean'] == value and '(one seed)' in out
    cfg_dump = open(osp.join(root, 'seed_3', 'tiny_point_mae.py')).read()
    assert re.search(r'seed\s*=\s*3\b', cfg_dump)  # the run got its seed

    ckpt = osp.join(root, 'seed_3', 'epoch_1.pth')
    out = run_tool(['tools/analysis_tools/svm_probe.py', TINY, ckpt, '--random-init',
                    '--work-dir', str(tmp_path / 'probe'), '--out', str(tmp_path / 'p.json'),
                    '--cfg-options', *data_options(demo_root)])
    probe = json.load(open(tmp_path / 'p.json'))
    assert (probe['num_train'], probe['num_test'], probe['C']) == (18, 6, 1.0)
    assert [r['checkpoint'] for r in probe['rows']] == [osp.abspath(ckpt), None]
    assert probe['rows'][0]['accuracy'] == pytest.approx(value, abs=1e-6)
    assert 0 <= probe['rows'][1]['accuracy'] <= 100
    assert '| random init (seed 0) |' in out and f'| {ckpt} |' in out


def test_probe_loads_training_and_exported_encoders_strictly(tmp_path):
    tool = load_tool('tools/analysis_tools/svm_probe.py')
    torch.manual_seed(0)
    src = MODELS.build(ENC)
    full = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    full['neck.weight'] = torch.zeros(1)  # not the encoder's: ignored
    torch.save(dict(state_dict=full), tmp_path / 'train.pth')
    torch.save(dict(state_dict=src.state_dict()), tmp_path / 'exported.pth')
    for name in ('train.pth', 'exported.pth'):
        dst = MODELS.build(ENC)
        tool.load_encoder(dst, str(tmp_path / name))
        for k, v in src.state_dict().items():
            torch.testing.assert_close(dst.state_dict()[k], v)
    wider = MODELS.build(dict(ENC, embed_dims=32))
    with pytest.raises(RuntimeError, match='train.pth does not fit') as err:
        tool.load_encoder(wider, str(tmp_path / 'train.pth'))
    assert 'size mismatch' in str(err.value)
    with pytest.raises(KeyError, match=r"train.pth does not fit.*missing \['transformer"):
        tool.load_encoder(MODELS.build(dict(ENC, depth=2)), str(tmp_path / 'train.pth'))


def test_random_init_is_the_seeded_init(tmp_path):
    tool = load_tool('tools/analysis_tools/svm_probe.py')
    a, b, c = (MODELS.build(ENC) for _ in range(3))
    tool.random_init(a, 3)
    tool.random_init(b, 3)
    tool.random_init(c, 4)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v)
    assert any(not torch.equal(c.state_dict()[k], v) for k, v in a.state_dict().items())


def test_probe_needs_a_probe_config_and_an_encoder(tmp_path, capsys):
    tool = load_tool('tools/analysis_tools/svm_probe.py')
    with pytest.raises(SystemExit):
        tool.main([TINY])
    assert 'at least one checkpoint or --random-init' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([TINY, str(tmp_path / 'absent.pth')])
    assert 'absent.pth does not exist' in capsys.readouterr().err
    cfg = tmp_path / 'no_probe.py'
    cfg.write_text(f"_base_ = ['{TINY}']\nval_cfg = None\nval_dataloader = None\n"
                   "val_evaluator = None\n")
    with pytest.raises(KeyError, match='has no SVM probe'):
        tool.main([str(cfg), '--random-init'])
