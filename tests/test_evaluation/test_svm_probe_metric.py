"""The linear-SVM probe's functional core, metric and global features."""
import numpy as np
import pytest
import torch

from mmdet3d.registry import METRICS, MODELS
from pt3kd_mm.evaluation.metrics.svm_probe_metric import (linear_svm_accuracy,
                                                          split_results)
from pt3kd_mm.evaluation.probe_features import global_probe_feature


def separable(num_per_class, num_classes=3, dims=8, seed=0):
    """Class c sits around 5 * e_c: linearly separable."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), num_per_class)
    feats = rng.normal(scale=0.1, size=(len(labels), dims))
    feats[np.arange(len(labels)), labels] += 5.0
    return feats.astype(np.float32), labels


def test_separable_features_give_100_percent():
    train_x, train_y = separable(10)
    test_x, test_y = separable(5, seed=1)
    assert linear_svm_accuracy(train_x, train_y, test_x, test_y) == 100.0
    assert linear_svm_accuracy(train_x, train_y, test_x, test_y, C=0.075) == 100.0


def test_identical_features_give_chance():
    """Every cloud has the same feature: one prediction for all, 1/3 right of 3 balanced
    classes."""
    train_y = np.repeat(np.arange(3), 10)
    test_y = np.repeat(np.arange(3), 4)
    same = np.ones((30, 6), np.float32)
    acc = linear_svm_accuracy(same, train_y, np.ones((12, 6)), test_y)
    assert acc == pytest.approx(100 / 3)


def test_bad_inputs_are_errors():
    x, y = separable(4)
    with pytest.raises(ValueError, match='at least two classes'):
        linear_svm_accuracy(x, np.zeros(len(x)), x, y)
    with pytest.raises(ValueError, match='both splits'):
        linear_svm_accuracy(x, y, x[:0], y[:0])
    with pytest.raises(ValueError, match='dims'):
        linear_svm_accuracy(x, y, x[:, :4], y)


def make_samples(feats, labels, split, indices):
    return [dict(svm_feature=f, svm_split=split, sample_idx=int(i), category=int(c))
            for f, c, i in zip(feats, labels, indices)]


def test_metric_drops_padding_copies_as_two_ranks_give_them():
    """Two ranks of mmengine's DefaultSampler (shuffle=False) over 7 train / 3 test clouds:
    rank r gets indices r, r+2, ... padded with the first ones; interleaved as
    collect_results returns them, with copies. The metric equals the probe of each cloud
    once."""
    train_x, train_y = separable(3, num_classes=2, seed=2)
    train_x, train_y = train_x[:5], train_y[:5]
    test_x, test_y = separable(2, num_classes=2, seed=3)
    test_x, test_y = test_x[:3], test_y[:3]

    def shards(n):  # DefaultSampler: pad to a multiple of 2 with the first indices
        idx = list(range(n)) + list(range(n))[:(-n) % 2]
        return idx[0::2], idx[1::2]

    metric = METRICS.build(dict(type='SVMProbeAccuracy', C=0.5))
    results = []
    for rank in range(2):
        metric.results = []
        tr, te = shards(5)[rank], shards(3)[rank]
        metric.process(None, make_samples(train_x[tr], train_y[tr], 'train', tr))
        metric.process(None, make_samples(test_x[te], test_y[te], 'test', te))
        results.append(metric.results)
    gathered = [r for pair in zip(*results) for r in pair]  # collect_results' interleaving
    assert len(gathered) == 6 + 4  # 3 + 2 per rank, with one copy in each split
    splits = split_results(gathered)
    np.testing.assert_array_equal(splits['train'][0], train_x)
    np.testing.assert_array_equal(splits['test'][1], test_y)
    expected = linear_svm_accuracy(train_x, train_y, test_x, test_y, C=0.5)
    assert metric.compute_metrics(gathered) == dict(accuracy=expected)


def test_metric_evaluate_key_and_missing_keys():
    metric = METRICS.build(dict(type='SVMProbeAccuracy'))
    x, y = separable(4)
    metric.process(None, make_samples(x, y, 'train', range(len(y))))
    metric.process(None, make_samples(x, y, 'test', range(len(y))))
    assert metric.evaluate(2 * len(y)) == {'svm/accuracy': 100.0}
    sample = make_samples(x[:1], y[:1], 'train', [0])[0]
    for key, hint in (('category', 'meta_keys'), ('sample_idx', 'meta_keys'),
                      ('svm_feature', 'SVMProbeValLoop')):
        bad = {k: v for k, v in sample.items() if k != key}
        with pytest.raises(KeyError, match=f"'{key}'.*{hint}"):
            metric.process(None, [bad])
    with pytest.raises(ValueError, match='svm_split'):
        metric.process(None, [dict(sample, svm_split='val')])
    with pytest.raises(ValueError, match='C must be > 0'):
        METRICS.build(dict(type='SVMProbeAccuracy', C=0))


def test_global_features_by_hand():
    torch.manual_seed(0)
    tokens, queries, cls = torch.randn(2, 5, 4), torch.randn(2, 3, 4), torch.randn(2, 4)
    enc = dict(tokens=tokens, query_tokens=queries, cls_token=cls)
    t, q = tokens.numpy(), queries.numpy()
    for b in range(2):
        tmax = [max(t[b, g, c] for g in range(5)) for c in range(4)]
        tmean = [sum(t[b, g, c] for g in range(5)) / 5 for c in range(4)]
        qmax = [max(q[b, i, c] for i in range(3)) for c in range(4)]
        np.testing.assert_allclose(global_probe_feature(enc, 'max_mean')[b], tmax + tmean,
                                   rtol=1e-6)
        np.testing.assert_allclose(global_probe_feature(enc, 'recon')[b],
                                   qmax + [a + m for a, m in zip(tmax, tmean)], rtol=1e-6)
        np.testing.assert_allclose(global_probe_feature(enc, 'cls_max')[b],
                                   list(cls[b].numpy()) + tmax, rtol=1e-6)
    with pytest.raises(ValueError, match='unknown probe feature'):
        global_probe_feature(enc, 'mean')
    with pytest.raises(KeyError, match='query_tokens'):
        global_probe_feature(dict(tokens=tokens), 'recon')
    with pytest.raises(KeyError, match='CLS'):
        global_probe_feature(dict(tokens=tokens), 'cls_max')


TINY = dict(embed_dims=16, depth=2, num_heads=2, num_groups=8, group_size=8)


@pytest.mark.parametrize('backbone,feature', [
    (dict(type='PointPatchTransformer', **TINY), 'max_mean'),  # Point-MAE
    (dict(type='PointPatchTransformer', with_cls_token=True, **TINY), 'max_mean'),  # ACT
    (dict(type='ReConPointTransformer', **TINY), 'recon'),  # ReCon
])
def test_feature_of_each_algorithm_encoder(backbone, feature):
    """The probe feature of each algorithm's encoder: CLS / queries excluded from the patch
    pooling, ReCon's max over its 3 queries."""
    torch.manual_seed(0)
    enc = MODELS.build(backbone).eval()
    points = torch.randn(2, 64, 3)
    with torch.no_grad():
        out = enc(points)
        feat = global_probe_feature(out, feature)
    tokens = out['tokens']
    assert tokens.shape == (2, 8, 16) and feat.shape == (2, 32)
    if feature == 'max_mean':
        expected = torch.cat([tokens.amax(1), tokens.sum(1) / 8], -1)
    else:
        queries = out['query_tokens']
        assert queries.shape == (2, 3, 16)
        expected = torch.cat([queries.amax(1), tokens.amax(1) + tokens.sum(1) / 8], -1)
    torch.testing.assert_close(feat, expected)


def test_standardize_undoes_a_per_dimension_scale_and_offset():
    """Class signal shrunk to 1e-4 on top of a large offset (as pre-trained tokens look): the
    raw-feature SVM (C=0.01) cannot use it, the standardised one separates perfectly and is
    invariant to any per-dimension affine map."""
    train_x, train_y = separable(10, seed=4)
    test_x, test_y = separable(5, seed=5)
    scale, offset = 1e-4, 30.0
    raw = linear_svm_accuracy(train_x * scale + offset, train_y, test_x * scale + offset,
                              test_y, C=0.01)
    std = linear_svm_accuracy(train_x * scale + offset, train_y, test_x * scale + offset,
                              test_y, C=0.01, standardize=True)
    assert raw < 50 and std == 100.0
    metric = METRICS.build(dict(type='SVMProbeAccuracy', C=0.01, standardize=True))
    metric.process(None, make_samples(train_x * scale + offset, train_y, 'train', range(30)))
    metric.process(None, make_samples(test_x * scale + offset, test_y, 'test', range(15)))
    assert metric.evaluate(45) == {'svm/accuracy': 100.0}
