"""Linear-SVM probe of frozen encoder features (the validation of the Point-BERT lineage's
pre-training runners): fit scikit-learn's ``LinearSVC`` on the features of a labelled train
split, report the accuracy on a test split."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric

from mmdet3d.registry import METRICS

#: the two splits a probe reads, in the order the loop feeds them
PROBE_SPLITS = ('train', 'test')


def linear_svm_accuracy(train_features: np.ndarray, train_labels: np.ndarray,
                        test_features: np.ndarray, test_labels: np.ndarray,
                        C: float = 1.0, dual='auto', max_iter: int = 1000, tol: float = 1e-4,
                        random_state: Optional[int] = 0, standardize: bool = False) -> float:
    """Fit ``LinearSVC`` (squared hinge, L2, one-vs-rest, as the references) on
    (N_train, D) features / (N_train,) labels, return the overall accuracy in percent on the
    (N_test, D) / (N_test,) test set. ``standardize``: first scale every dimension to zero
    mean and unit variance with the train split's statistics (the references do not).

    Raises:
        ValueError: empty splits, a feature-size mismatch, or fewer than two train classes.
    """
    from sklearn.svm import LinearSVC
    train_features = np.asarray(train_features, dtype=np.float64)
    test_features = np.asarray(test_features, dtype=np.float64)
    if train_features.ndim != 2 or test_features.ndim != 2:
        raise ValueError(f'features must be (N, D); got train {train_features.shape}, '
                         f'test {test_features.shape}')
    if len(train_features) == 0 or len(test_features) == 0:
        raise ValueError(f'the SVM probe needs clouds in both splits; got '
                         f'{len(train_features)} train and {len(test_features)} test')
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f'train features have {train_features.shape[1]} dims, test features '
                         f'{test_features.shape[1]}')
    if len(np.unique(train_labels)) < 2:
        raise ValueError(f'the SVM probe needs at least two classes in the train split; got '
                         f'{np.unique(train_labels).tolist()}')
    if standardize:
        mean, std = train_features.mean(0), train_features.std(0)
        std[std == 0] = 1.0  # a constant dimension stays 0
        train_features = (train_features - mean) / std
        test_features = (test_features - mean) / std
    clf = LinearSVC(C=C, dual=dual, max_iter=max_iter, tol=tol, random_state=random_state)
    clf.fit(train_features, np.asarray(train_labels))
    pred = clf.predict(test_features)
    return float((pred == np.asarray(test_labels)).mean() * 100)


def split_results(results: Sequence[Tuple[str, int, np.ndarray, int]]
                  ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """(split, sample_idx, feature, label) rows gathered from all ranks -> per split
    ((N, D) features, (N,) labels) in dataset order, each sample once (the copies a
    distributed sampler pads with are dropped)."""
    out = {}
    for split in PROBE_SPLITS:
        rows = {}
        for s, idx, feat, label in results:
            if s == split:
                rows.setdefault(int(idx), (feat, label))
        order = sorted(rows)
        feats = np.stack([rows[i][0] for i in order]) if order else np.zeros((0, 0))
        out[split] = feats, np.array([rows[i][1] for i in order], dtype=np.int64)
    return out


@METRICS.register_module()
class SVMProbeAccuracy(BaseMetric):
    """Linear-SVM accuracy (percent, key ``svm/accuracy``) of global features attached by
    ``SVMProbeValLoop``: each data sample carries ``svm_feature`` (D,), ``svm_split``
    ('train': fit the SVM, 'test': score it), ``sample_idx`` and the label ``label_key``.

    Args:
        C: ``LinearSVC``'s C. The references: ReCon's pre-training / SVM runners 0.075;
            Point-MAE's and ACT's (unused) validation ``LinearSVC()``, i.e. 1.0.
        dual, max_iter, tol: passed to ``LinearSVC`` (scikit-learn's defaults; the solver
            reaches the same optimum as the references' ``dual=True`` when it converges).
        random_state: ``LinearSVC``'s seed (the references leave it unset); fixed so a probe
            of the same features gives the same number.
        standardize: z-score every feature dimension with the train split's mean / std
            before fitting (off in the references; the demo configs turn it on, see
            docs/probe.md: pre-trained tokens vary little around a large per-dimension offset,
            which the raw-feature SVM under-uses on small sets).
        label_key: the class index in each sample's metainfo (``category`` for
            ``ShapeNet55Dataset`` and ``ModelNet40PointDataset``; list it in
            ``Pack3DDetInputs``' ``meta_keys`` together with ``sample_idx``).

    Distributed: every rank processes its shards of both splits; mmengine's
    ``collect_results`` gathers them to rank 0, which drops the padding copies by
    (split, ``sample_idx``), fits and broadcasts the metric.
    """

    default_prefix = 'svm'

    def __init__(self,
                 C: float = 1.0,
                 dual='auto',
                 max_iter: int = 1000,
                 tol: float = 1e-4,
                 random_state: Optional[int] = 0,
                 standardize: bool = False,
                 label_key: str = 'category',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not C > 0:
            raise ValueError(f'SVMProbeAccuracy: C must be > 0, got {C}')
        self.svm_kwargs = dict(C=C, dual=dual, max_iter=max_iter, tol=tol,
                               random_state=random_state, standardize=standardize)
        self.label_key = label_key

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key, how in (('svm_feature', 'run the probe with SVMProbeValLoop (val_cfg)'),
                             ('svm_split', 'run the probe with SVMProbeValLoop (val_cfg)'),
                             ('sample_idx', "add 'sample_idx' to Pack3DDetInputs' meta_keys"),
                             (self.label_key,
                              f"add '{self.label_key}' to Pack3DDetInputs' meta_keys")):
                if key not in sample:
                    raise KeyError(f'SVMProbeAccuracy: a data sample has no {key!r}; {how}')
            if sample['svm_split'] not in PROBE_SPLITS:
                raise ValueError(f"SVMProbeAccuracy: svm_split must be one of {PROBE_SPLITS}, "
                                 f"got {sample['svm_split']!r}")
            self.results.append((sample['svm_split'], int(sample['sample_idx']),
                                 np.asarray(sample['svm_feature'], np.float32),
                                 int(sample[self.label_key])))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        splits = split_results(results)
        (train_x, train_y), (test_x, test_y) = splits['train'], splits['test']
        return dict(accuracy=linear_svm_accuracy(train_x, train_y, test_x, test_y,
                                                 **self.svm_kwargs))
