"""``ball_query``: pointnet2 / mmcv semantics (the first k points in index order with squared
distance < radius ** 2, free slots repeat the first one found, 0 when none is) on every
backend, against a brute-force loop."""
import numpy as np
import pytest
import torch

from pt3kd_mm.ops import ball_query, farthest_point_sample, gather_points
from pt3kd_mm.ops import point_ops

BACKENDS = ['numba', 'torch']


def brute_ball(xyz: np.ndarray, query: np.ndarray, radius: float, k: int) -> np.ndarray:
    """The pointnet2 CUDA kernel's loop in float32: radius2 = radius * radius in float32,
    d2 = (dx*dx + dy*dy) + dz*dz."""
    xyz, query = xyz.astype(np.float32), query.astype(np.float32)
    r2 = np.float32(radius) * np.float32(radius)
    out = np.zeros((*query.shape[:2], k), dtype=np.int64)
    for b in range(query.shape[0]):
        for m in range(query.shape[1]):
            diff = xyz[b] - query[b, m]
            d2 = diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2]
            found = [i for i in range(xyz.shape[1]) if d2[i] < r2][:k]
            if found:
                out[b, m] = found + [found[0]] * (k - len(found))
    return out


def _clouds(kind: str, seed: int = 0):
    """(B, N, 3) points and (B, M, 3) queries: uniform, integer grid (many exact ties and
    points exactly on the sphere) or with duplicated points."""
    rng = np.random.default_rng(seed)
    if kind == 'uniform':
        xyz = rng.random((2, 300, 3))
    elif kind == 'int_grid':
        xyz = rng.integers(0, 5, (2, 300, 3)).astype(np.float64)
    else:  # duplicates: 60 distinct points, each repeated 5 times in shuffled order
        base = rng.random((2, 60, 3))
        xyz = np.stack([np.repeat(c, 5, axis=0)[rng.permutation(300)] for c in base])
    query = np.concatenate([xyz[:, :20], rng.random((2, 10, 3)) * xyz.max()], axis=1)
    return torch.from_numpy(xyz).float(), torch.from_numpy(query).float()


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('kind', ['uniform', 'int_grid', 'duplicates'])
@pytest.mark.parametrize('radius, k', [(0.15, 8), (1.0, 16), (1.5, 5)])
def test_matches_brute_force(backend, kind, radius, k):
    xyz, query = _clouds(kind)
    idx = ball_query(xyz, query, radius, k, backend)
    assert idx.dtype == torch.long and idx.shape == (2, 30, k)
    np.testing.assert_array_equal(idx.numpy(), brute_ball(xyz.numpy(), query.numpy(), radius, k))


@pytest.mark.parametrize('backend', BACKENDS)
def test_hand_example(backend):
    # points on the x axis at 0, 3, 1, 1 (a duplicate), 2, 0.5; ball of radius 1 around 0:
    # index order 0, 5 (x=0.5); x=1 lies on the sphere and is excluded (strict <)
    xyz = torch.tensor([[[0., 0, 0], [3, 0, 0], [1, 0, 0], [1, 0, 0], [2, 0, 0], [.5, 0, 0]]])
    query = torch.tensor([[[0., 0, 0], [1, 0, 0], [10, 0, 0]]])
    idx = ball_query(xyz, query, 1.0, 4, backend)
    assert idx.tolist() == [[
        [0, 5, 0, 0],  # two found: the rest repeat the first one
        [2, 3, 5, 2],  # 1, its duplicate, 0.5; 0 and 2 are on the sphere
        [0, 0, 0, 0],  # empty ball: zeros
    ]]
    # a larger radius takes the first k in index order, not the nearest k
    assert ball_query(xyz, query[:, :1], 2.5, 3, backend).tolist() == [[[0, 2, 3]]]


@pytest.mark.parametrize('backend', BACKENDS)
def test_empty_ball_and_k_beyond_found_or_n(backend):
    xyz = torch.rand(2, 7, 3, generator=torch.Generator().manual_seed(1))
    query = torch.stack([xyz[:, 3], torch.full((2, 3), 50.)], dim=1)  # a point, far away
    idx = ball_query(xyz, query, 10.0, 12, backend)  # k > N: all 7 points, then the first
    assert idx[:, 0].tolist() == [[0, 1, 2, 3, 4, 5, 6] + [0] * 5] * 2
    assert idx[:, 1].tolist() == [[0] * 12] * 2  # no point within 10 of (50, 50, 50)
    # a tiny ball around a point holds only that point (random points are distinct)
    idx = ball_query(xyz, query, 1e-6, 3, backend)
    assert idx[:, 0].tolist() == [[3, 3, 3]] * 2


@pytest.mark.parametrize('backend', BACKENDS)
def test_radius_squared_in_float32_like_cuda(backend):
    # CUDA: radius2 = radius * radius in float32. For radius 0.1 that is one ulp above
    # float32(0.1 ** 2); a point with squared distance float32(0.01) is inside
    r2_cuda = np.float32(0.1) * np.float32(0.1)
    assert r2_cuda > np.float32(0.01)
    x, y = np.float32(0.099999994), np.float32(3e-05)
    assert x * x + y * y == np.float32(0.01)
    xyz = torch.tensor([[[5., 5, 5], [float(x), float(y), 0], [0.1, 0, 0]]])
    # index 1 (d2 == float32(0.01)) is inside; index 2 (d2 == radius2 exactly) is not
    assert ball_query(xyz, torch.zeros(1, 1, 3), 0.1, 2, backend).tolist() == [[[1, 1]]]


@pytest.mark.parametrize('backend', BACKENDS)
def test_no_queries(backend):
    idx = ball_query(torch.rand(2, 5, 3), torch.zeros(2, 0, 3), 0.5, 4, backend)
    assert idx.shape == (2, 0, 4) and idx.dtype == torch.long


def test_torch_chunking_does_not_change_the_result():
    xyz, query = _clouds('int_grid', seed=2)
    whole = ball_query(xyz, query, 1.5, 8, 'torch', chunk_size=1024)
    assert torch.equal(ball_query(xyz, query, 1.5, 8, 'torch', chunk_size=7), whole)


def test_numba_equals_torch_on_a_20k_scene():
    # detection-size input: a 6 x 4 x 2.5 m room of 20 000 points (half on the floor, half in
    # boxes, so balls range from crowded to empty), 3DETR's 0.2 m balls of 64 around FPS
    # centres, plus queries outside the room
    rng = np.random.default_rng(3)
    n = 20000
    floor = np.c_[rng.random((n // 2, 2)) * [6, 4], rng.normal(0, 0.01, n // 2)]
    boxes = rng.random((8, 3)) * [6, 4, 1.5]
    clutter = boxes[rng.integers(0, 8, n // 2)] + rng.random((n // 2, 3)) * 0.5
    xyz = torch.from_numpy(np.concatenate([floor, clutter])[rng.permutation(n)]).float()[None]
    xyz = torch.cat([xyz, xyz.flip(1)])  # two clouds, different index orders
    centres = gather_points(xyz, farthest_point_sample(xyz, 512))
    query = torch.cat([centres, torch.full((2, 4, 3), 20.)], dim=1)
    idx = ball_query(xyz, query, 0.2, 64, 'numba')
    assert torch.equal(idx, ball_query(xyz, query, 0.2, 64, 'torch'))
    assert (idx[:, -4:] == 0).all()  # the balls outside the room are empty
    counts = torch.tensor([[len(set(row.tolist())) for row in cloud] for cloud in idx[:, :512]])
    assert counts.min() >= 1 and counts.max() == 64  # every centre finds itself; some fill up
    np.testing.assert_array_equal(idx[:, :16].numpy(),
                                  brute_ball(xyz.numpy(), query[:, :16].numpy(), 0.2, 64))


def test_serial_driver_in_data_loader_worker(monkeypatch):
    xyz, query = _clouds('duplicates', seed=4)
    idx = ball_query(xyz, query, 0.3, 8, 'numba')
    monkeypatch.setattr(point_ops, '_in_worker', lambda: True)
    assert torch.equal(ball_query(xyz, query, 0.3, 8, 'numba'), idx)


def test_auto_is_numba_on_cpu_and_float64_input():
    xyz, query = _clouds('uniform', seed=5)
    idx = ball_query(xyz.double(), query.double(), 0.2, 8)
    assert torch.equal(idx, ball_query(xyz, query, 0.2, 8, 'numba'))


def test_errors():
    xyz = torch.rand(2, 10, 3)
    with pytest.raises(ValueError, match='batch sizes differ: xyz 2 vs query 1'):
        ball_query(xyz, torch.rand(1, 4, 3), 0.5, 4)
    for radius in (0, -1.0, float('nan')):
        with pytest.raises(ValueError, match='radius > 0 and k >= 1'):
            ball_query(xyz, xyz, radius, 4)
    with pytest.raises(ValueError, match='radius > 0 and k >= 1'):
        ball_query(xyz, xyz, 0.5, 0)
    with pytest.raises(ValueError, match='at least one point'):
        ball_query(torch.rand(2, 0, 3), xyz, 0.5, 4)
    with pytest.raises(ValueError, match=r'query must have shape \(B, N, 3\)'):
        ball_query(xyz, torch.rand(2, 4, 2), 0.5, 4)
    with pytest.raises(ValueError, match='chunk_size'):
        ball_query(xyz, xyz, 0.5, 4, 'torch', chunk_size=0)
    with pytest.raises(ValueError, match='CUDA-only'):
        ball_query(xyz, xyz, 0.5, 4, backend='mmcv')
    with pytest.raises(ValueError, match='backend must be one of'):
        ball_query(xyz, xyz, 0.5, 4, backend='cuda')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_backends_match_cpu():  # pragma: no cover - runs on GPU machines only
    xyz, query = _clouds('int_grid', seed=6)
    expected = ball_query(xyz, query, 1.5, 8, 'numba')
    assert torch.equal(ball_query(xyz.cuda(), query.cuda(), 1.5, 8, 'torch').cpu(), expected)
    assert torch.equal(ball_query(xyz.cuda(), query.cuda(), 1.5, 8, 'auto').cpu(), expected)
