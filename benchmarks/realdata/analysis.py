"""The statistics of the real-data benchmark (``run.py``): a scale-free geometric baseline, the
k-fold linear-SVM predictions, a paired permutation test and Holm's correction."""
import warnings
from typing import List, Sequence, Tuple

import numpy as np


def geometric_descriptor(points: np.ndarray, num_pairs: int = 4000, seed: int = 0) -> np.ndarray:
    """A scale-free shape descriptor of an (N, 3) cloud (y up), 39 numbers:

    * the PCA eigenvalues over their sum, largest first (3);
    * the axis-aligned extents (x, y, z) over their sum (3): proportions, no size;
    * the D2 shape distribution (Osada et al. 2002): distances of ``num_pairs`` random point
      pairs over their mean, histogram of 16 bins on [0, 3] (16);
    * distances to the centroid over their mean, 8 bins on [0, 3] (8);
    * A3: the angle at the middle point of random triples, 9 bins on [0, pi] (9).

    Multiplying the cloud by any s > 0 leaves it unchanged (to rounding).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 3:
        raise ValueError(f'geometric_descriptor expects (N >= 3, 3) points, got {pts.shape}')
    rng = np.random.default_rng(seed)
    centred = pts - pts.mean(0)
    eig = np.sort(np.linalg.eigvalsh(centred.T @ centred / len(pts)))[::-1]
    eig = eig / max(eig.sum(), 1e-12)
    extent = pts.max(0) - pts.min(0)
    extent = extent / max(extent.sum(), 1e-12)
    i, j, k = (rng.integers(0, len(pts), num_pairs) for _ in range(3))
    d2 = np.linalg.norm(pts[i] - pts[j], axis=1)
    d2 = np.histogram(d2 / max(d2.mean(), 1e-12), bins=16, range=(0, 3))[0] / num_pairs
    radial = np.linalg.norm(centred, axis=1)
    radial = np.histogram(radial / max(radial.mean(), 1e-12), bins=8, range=(0, 3))[0] / len(pts)
    u, v = pts[i] - pts[j], pts[k] - pts[j]
    cos = (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1),
                                      1e-12)
    a3 = np.histogram(np.arccos(np.clip(cos, -1, 1)), bins=9, range=(0, np.pi))[0] / num_pairs
    return np.concatenate([eig, extent, d2, radial, a3]).astype(np.float32)


def kfold_svm_predictions(features: np.ndarray, labels: np.ndarray, folds: np.ndarray,
                          C: float = 1.0, max_iter: int = 1000) -> np.ndarray:
    """Out-of-fold predictions of a linear SVM: for each fold, ``LinearSVC(C)`` (squared hinge,
    L2, one-vs-rest, seed 0, scikit-learn's default 1000 iterations as the references) fit on
    the other folds' (N, D) ``features``, standardised with their statistics, predicts that
    fold. Returns the (N,) predictions, one per item."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC
    features = np.asarray(features, dtype=np.float64)
    labels, folds = np.asarray(labels), np.asarray(folds)
    if not len(features) == len(labels) == len(folds):
        raise ValueError(f'{len(features)} features, {len(labels)} labels, {len(folds)} folds')
    pred = np.full(len(labels), -1, dtype=np.int64)
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        mean, std = features[train].mean(0), features[train].std(0)
        std[std == 0] = 1.0
        clf = LinearSVC(C=C, max_iter=max_iter, random_state=0)
        with warnings.catch_warnings():  # liblinear stops at max_iter, as the references
            warnings.simplefilter('ignore', ConvergenceWarning)
            clf.fit((features[train] - mean) / std, labels[train])
        pred[test] = clf.predict((features[test] - mean) / std)
    return pred


def paired_permutation_test(a: Sequence[float], b: Sequence[float], num_permutations: int = 20000,
                            seed: int = 0) -> float:
    """Two-sided p-value of "a and b have the same mean" for paired per-item scores (e.g. each
    item's correctness averaged over seeds): the mean difference against its distribution under
    random sign flips of the per-item differences (exact null of exchangeable pairs); the
    observed assignment counts as one permutation, so p >= 1 / (num_permutations + 1)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f'paired scores must be two equal-length 1-D sequences, got {d.shape}')
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(num_permutations, len(d)))
    null = np.abs((signs * d).mean(1))
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (num_permutations + 1))


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm-Bonferroni adjusted p-values (same order as given), capped at 1 and monotone."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


def summarise(values: Sequence[float]) -> Tuple[float, float]:
    """(mean, sample standard deviation (ddof 1; 0 for one value))."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
