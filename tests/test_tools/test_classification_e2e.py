"""Classification end to end on the demo objects in the ModelNet40 layout (fine-tune, then a
voting test through tools/train.py / tools/test.py) and the few-shot tool (fold sampling,
reuse, the table, one fold through the runner)."""
import os.path as osp
import pickle
import re

import numpy as np
import pytest

from pt3kd_mm.testing import REPO, create_modelnet40_demo, load_tool, run_tool

TINY = osp.join(REPO, 'tests/configs/tiny_point_classifier.py')
TINY_VOTE = osp.join(REPO, 'tests/configs/tiny_point_classifier_vote.py')
TINY_FEWSHOT = osp.join(REPO, 'tests/configs/tiny_point_classifier_fewshot.py')
fewshot = load_tool('tools/fewshot.py')


@pytest.fixture(scope='module')
def modelnet_cls_root(tmp_path_factory):
    """6 demo classes, 16 train + 8 test shapes each, 600 points."""
    root = str(tmp_path_factory.mktemp('cls') / 'modelnet40_normal_resampled')
    create_modelnet40_demo(root, per_class_train=16, per_class_test=8, num_points=600, seed=0)
    return root


def roots(root):
    return [f'{loader}.dataset.data_root={root}'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


@pytest.mark.e2e
def test_finetune_then_vote_beats_chance(modelnet_cls_root, tmp_path):
    work = str(tmp_path / 'work')
    out = run_tool(['tools/train.py', TINY, '--work-dir', work, '--cfg-options',
                    *roots(modelnet_cls_root)])
    accs = [float(a) for a in re.findall(r'accuracy/top1: ([\d.]+)', out)]
    assert accs and accs[-1] >= 60.0, out[-2000:]  # 6 classes: chance is 16.7
    best = [f for f in __import__('os').listdir(work) if f.startswith('best_accuracy_top1')]
    assert len(best) == 1
    out = run_tool(['tools/test.py', TINY_VOTE, osp.join(work, best[0]), '--work-dir',
                    str(tmp_path / 'test'), '--cfg-options', *roots(modelnet_cls_root)])
    vote_acc = float(re.findall(r'accuracy/top1: ([\d.]+)', out)[-1])
    assert vote_acc >= 50.0, out[-2000:]


def test_fold_sampling_counts_and_determinism():
    train_labels = np.repeat(np.arange(8), 12)  # 8 classes, 12 train shapes each
    test_labels = np.repeat(np.arange(8), 25)
    fold = fewshot.sample_fold(train_labels, test_labels, 5, 10,
                               np.random.default_rng([0, 5, 10, 0]))
    assert len(fold['train']) == 5 * 10 and len(fold['test']) == 5 * 20
    for split, labels in (('train', train_labels), ('test', test_labels)):
        indices = [i for i, _, _ in fold[split]]
        assert len(set(indices)) == len(indices)  # no shape twice
        for i, label, cls in fold[split]:
            assert labels[i] == cls and 0 <= label < 5
        per_label = np.bincount([label for _, label, _ in fold[split]], minlength=5)
        assert (per_label == (10 if split == 'train' else 20)).all()
        # one ModelNet class per way label
        assert len({(label, cls) for _, label, cls in fold[split]}) == 5
    again = fewshot.sample_fold(train_labels, test_labels, 5, 10,
                                np.random.default_rng([0, 5, 10, 0]))
    assert again == fold
    other = fewshot.sample_fold(train_labels, test_labels, 5, 10,
                                np.random.default_rng([0, 5, 10, 1]))
    assert other != fold
    with pytest.raises(ValueError, match='class .* has 12 train shapes, fewer than the 20'):
        fewshot.sample_fold(train_labels, test_labels, 5, 20, np.random.default_rng(0))


def test_folds_written_once_deterministically_and_reused(modelnet_cls_root, tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    paths = fewshot.ensure_folds(a, 5, 10, [0, 1], seed=3, modelnet_root=modelnet_cls_root,
                                 eval_per_class=8)
    assert paths == [osp.join(a, '5way_10shot', f'{k}.pkl') for k in (0, 1)]
    fewshot.ensure_folds(b, 5, 10, [0, 1], seed=3, modelnet_root=modelnet_cls_root,
                         eval_per_class=8)
    for k in (0, 1):  # the same seed gives the same files
        with open(paths[k], 'rb') as f, open(osp.join(b, '5way_10shot', f'{k}.pkl'), 'rb') as g:
            assert f.read() == g.read()
    with open(paths[0], 'rb') as f:
        fold = pickle.load(f)
    assert len(fold['train']) == 50 and len(fold['test']) == 40
    points, label, cls = fold['train'][0]
    assert points.shape == (600, 6) and 0 <= label < 5 and 0 <= cls < 6
    # present files are reused as they are, without reading ModelNet40
    with open(paths[1], 'wb') as f:
        pickle.dump(dict(train=[], test=[]), f)
    fewshot.ensure_folds(a, 5, 10, [0, 1], seed=3, modelnet_root=None)
    with open(paths[1], 'rb') as f:
        assert pickle.load(f) == dict(train=[], test=[])
    with pytest.raises(FileNotFoundError, match='pass --modelnet-root'):
        fewshot.ensure_folds(a, 5, 10, [2], seed=3)


def test_table_from_given_fold_values():
    scores = {0: 90.0, 1: 95.0, 2: 100.0}
    mean, std = fewshot.summarize(list(scores.values()))
    assert mean == 95.0 and abs(std - (50 / 3) ** 0.5) < 1e-12  # sqrt((25 + 0 + 25) / 3)
    table = fewshot.format_table(5, 10, scores)
    assert '| 1 | 95.00 |' in table
    assert '| mean +- std (3 folds) | 95.00 +- 4.08 |' in table
    assert fewshot.parse_folds('0-3,7') == [0, 1, 2, 3, 7]


@pytest.mark.e2e
def test_one_fold_through_the_runner(modelnet_cls_root, tmp_path):
    folds = str(tmp_path / 'folds')
    fewshot.ensure_folds(folds, 5, 10, [0], seed=0, modelnet_root=modelnet_cls_root,
                         eval_per_class=8)
    cfg = fewshot.fold_config(TINY_FEWSHOT, folds, 5, 10, 0, str(tmp_path / 'work'))
    assert cfg.val_dataloader.dataset.fold == 0 and cfg.train_dataloader.dataset.way == 5
    score = fewshot.run_fold(cfg)
    assert 0.0 <= score <= 100.0
    with pytest.raises(ValueError, match='not ModelNet40FewShotDataset'):
        fewshot.fold_config(TINY, folds, 5, 10, 0, str(tmp_path / 'x'))
