"""The accelerated numba kernels (bucket FPS, grid kNN) against the brute-force ones.

The brute-force numba kernels equal the PyTorch path (test_point_ops.py), so equality with them
is equality with the reference, tie rules included: FPS takes the lowest index among the points
at the maximum distance, kNN orders equal distances by index.
"""
import numpy as np
import pytest
import torch

from pt3kd_mm.ops import farthest_point_sample, knn_query
from pt3kd_mm.ops import point_ops


def _scene(n: int, rng: np.random.Generator) -> np.ndarray:
    """A room-like (n, 3) cloud: a floor, a wall and ten boxes, points on surfaces, shuffled."""
    n1, n2 = n // 2, n // 4
    n3 = n - n1 - n2
    floor = np.c_[rng.random(n1) * 8, rng.random(n1) * 6, rng.normal(0, 0.01, n1)]
    wall = np.c_[rng.random(n2) * 8, 6 + rng.normal(0, 0.01, n2), rng.random(n2) * 3]
    centres = rng.random((10, 3)) * [8, 6, 1]
    boxes = centres[rng.integers(0, 10, n3)] + rng.random((n3, 3)) * 0.6
    return np.concatenate([floor, wall, boxes])[rng.permutation(n)]


def _cloud(kind: str, batch: int, n: int, seed: int = 0) -> np.ndarray:
    """(batch, n, 3) float32 clouds of a given shape."""
    rng = np.random.default_rng(seed)
    if kind == 'uniform':
        xyz = rng.random((batch, n, 3))
    elif kind == 'plane':  # flat: one axis has zero extent
        xyz = np.concatenate([rng.random((batch, n, 2)), np.zeros((batch, n, 1))], -1)
    elif kind == 'line':
        xyz = np.concatenate([rng.random((batch, n, 1)) * 5, np.ones((batch, n, 2))], -1)
    elif kind == 'anisotropic':
        xyz = rng.random((batch, n, 3)) * [100.0, 1.0, 1e-3] + [1e3, -5.0, 0.0]
    elif kind == 'scene':
        xyz = np.stack([_scene(n, rng) for _ in range(batch)])
    elif kind == 'clusters':
        centres = rng.random((batch, 5, 3)) * 10
        xyz = centres[:, rng.integers(0, 5, n)] + rng.normal(size=(batch, n, 3)) * 0.01
    elif kind == 'int_grid':  # few distinct points, many exact duplicates and equal distances
        xyz = rng.integers(-3, 4, (batch, n, 3))
    elif kind == 'duplicates':  # every point 8 times, at scattered indices
        base = rng.random((batch, (n + 7) // 8, 3))
        xyz = np.repeat(base, 8, axis=1)[:, rng.permutation(n)]
    else:
        raise ValueError(kind)
    return np.ascontiguousarray(xyz, dtype=np.float32)


def _queries(xyz: np.ndarray, num: int, seed: int = 1) -> np.ndarray:
    """Half cloud points (exact ties with themselves), half points around and outside the
    cloud's box."""
    rng = np.random.default_rng(seed)
    batch, n, _ = xyz.shape
    on = xyz[:, rng.integers(0, n, num - num // 2)]
    lo, hi = xyz.min(1, keepdims=True), xyz.max(1, keepdims=True)
    off = lo + (hi - lo) * (rng.random((batch, num // 2, 3)) * 1.4 - 0.2)
    return np.ascontiguousarray(np.concatenate([on, off], 1), dtype=np.float32)


def _fps_all(xyz: np.ndarray, m: int) -> np.ndarray:
    """Bucket FPS by both drivers; asserts they agree."""
    par = point_ops._fps_bucket_parallel(xyz, m)
    assert np.array_equal(point_ops._fps_bucket_serial(xyz, m), par)
    return par


def _knn_all(xyz: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Grid kNN by both drivers; asserts they agree."""
    par = point_ops._knn_grid_parallel(xyz, query, k)
    assert np.array_equal(point_ops._knn_grid_serial(xyz, query, k), par)
    return par


KINDS = ['uniform', 'plane', 'line', 'anisotropic', 'scene', 'clusters', 'int_grid', 'duplicates']


@pytest.mark.parametrize('kind', KINDS)
def test_bucket_fps_equals_brute_force(kind):
    xyz = _cloud(kind, 2, 3000)
    for m in (1, 2, 300):
        assert np.array_equal(_fps_all(xyz, m), point_ops._fps_serial(xyz, m)), m


@pytest.mark.parametrize('kind', ['uniform', 'int_grid', 'duplicates'])
def test_bucket_fps_all_points(kind):
    # num_samples = N: on clouds with duplicates the last picks are at distance 0, where the
    # lowest index wins (possibly a point picked before)
    xyz = _cloud(kind, 2, 700, seed=2)
    assert np.array_equal(_fps_all(xyz, 700), point_ops._fps_serial(xyz, 700))


def test_bucket_fps_tiny_clouds():
    xyz = _cloud('uniform', 3, 5, seed=3)
    xyz[1] = 0.25  # all points equal
    xyz[2, 3] = xyz[2, 1]
    for m in range(1, 6):
        assert np.array_equal(_fps_all(xyz, m), point_ops._fps_serial(xyz, m))


def test_bucket_fps_equals_torch():
    xyz = torch.from_numpy(_cloud('scene', 2, 2048, seed=4))
    assert point_ops._use_bucket_fps(2048, 200)
    assert torch.equal(farthest_point_sample(xyz, 200, 'numba'),
                       farthest_point_sample(xyz, 200, 'torch'))


@pytest.mark.parametrize('kind', KINDS)
def test_grid_knn_equals_brute_force(kind):
    xyz = _cloud(kind, 2, 3000)
    query = _queries(xyz, 96)
    for k in (1, 16, 64):
        assert np.array_equal(_knn_all(xyz, query, k), point_ops._knn_serial(xyz, query, k)), k


@pytest.mark.parametrize('kind', ['uniform', 'int_grid', 'line'])
def test_grid_knn_k_equals_n(kind):
    xyz = _cloud(kind, 2, 300, seed=5)
    query = _queries(xyz, 20)
    for k in (299, 300):
        assert np.array_equal(_knn_all(xyz, query, k), point_ops._knn_serial(xyz, query, k))


def test_grid_knn_tiny_clouds():
    xyz = _cloud('int_grid', 2, 5, seed=6)
    query = _queries(xyz, 6)
    for k in range(1, 6):
        assert np.array_equal(_knn_all(xyz, query, k), point_ops._knn_serial(xyz, query, k))


def test_grid_knn_equals_torch():
    g = torch.Generator().manual_seed(7)
    xyz, query = torch.rand(2, 4096, 3, generator=g), torch.rand(2, 100, 3, generator=g)
    assert point_ops._use_grid_knn(4096, 32)
    idx = knn_query(xyz, query, 32, 'numba')
    assert torch.equal(idx, knn_query(xyz, query, 32, 'torch'))


def test_scene_size_cloud():
    # detection-size input: 40 000 points per scene -> 1024 centres x 32 neighbours
    xyz = _cloud('scene', 2, 40000, seed=8)
    centres_idx = _fps_all(xyz, 1024)
    assert np.array_equal(centres_idx, point_ops._fps_serial(xyz, 1024))
    centres = np.ascontiguousarray(np.take_along_axis(xyz, centres_idx[..., None], 1)[:, ::4])
    assert np.array_equal(_knn_all(xyz, centres, 32), point_ops._knn_serial(xyz, centres, 32))


def test_non_finite_and_huge_coordinates_fall_back():
    xyz = _cloud('uniform', 3, 1000, seed=9)
    xyz[0, 10, 1] = np.nan
    xyz[1, 20, 0] = 1e20  # squared distances would overflow float32
    query = _queries(xyz, 30)
    query[2, 0] = [np.inf, 0, 0]
    query[2, 1] = [-1e30, 5, 5]
    assert np.array_equal(_fps_all(xyz, 100), point_ops._fps_serial(xyz, 100))
    assert np.array_equal(_knn_all(xyz, query, 8), point_ops._knn_serial(xyz, query, 8))


def test_dispatch_in_data_loader_worker(monkeypatch):
    # inside a data-loader worker the serial drivers run; results are the same
    xyz = torch.from_numpy(_cloud('clusters', 3, 2048, seed=10))
    centres_idx = farthest_point_sample(xyz, 128, 'numba')
    idx = knn_query(xyz, xyz[:, :50], 16, 'numba')
    monkeypatch.setattr(point_ops, '_in_worker', lambda: True)
    assert torch.equal(farthest_point_sample(xyz, 128, 'numba'), centres_idx)
    assert torch.equal(knn_query(xyz, xyz[:, :50], 16, 'numba'), idx)


def test_dispatch_small_problems_use_brute_force():
    assert not point_ops._use_bucket_fps(256, 64) and not point_ops._use_bucket_fps(8192, 16)
    assert point_ops._use_bucket_fps(8192, 512)
    assert not point_ops._use_grid_knn(64, 8) and not point_ops._use_grid_knn(1024, 512)
    assert point_ops._use_grid_knn(8192, 32)
