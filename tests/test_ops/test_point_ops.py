import numpy as np
import pytest
import torch

from pt3kd_mm.ops import (farthest_point_sample, gather_points, group_points,
                          knn_query, nearest_neighbor_sq_dist)
from pt3kd_mm.models.losses import chamfer_distance_l1, chamfer_distance_l2

BACKENDS = ['numba', 'torch']


def brute_fps(xyz: np.ndarray, m: int) -> list:
    chosen = [0]
    for _ in range(1, m):
        d = np.min(((xyz[:, None] - xyz[chosen][None])**2).sum(-1), axis=1)
        chosen.append(int(np.argmax(d)))
    return chosen


@pytest.mark.parametrize('backend', BACKENDS)
def test_fps_hand_example(backend):
    # points on a line: start 0 (x=0), farthest x=10, then farthest from {0, 10} is x=5,
    # then x=2 (distance 2 to 0) beats x=7 (distance 2 to 5) by lower index? x=2 is index 1
    xyz = torch.tensor([[[0., 0, 0], [2, 0, 0], [5, 0, 0], [7, 0, 0], [10, 0, 0]]])
    idx = farthest_point_sample(xyz, 4, backend)
    assert idx.tolist() == [[0, 4, 2, 1]]


@pytest.mark.parametrize('backend', BACKENDS)
def test_fps_matches_brute_force(backend):
    g = torch.Generator().manual_seed(0)
    xyz = torch.rand(3, 300, 3, generator=g)
    idx = farthest_point_sample(xyz, 40, backend)
    for b in range(3):
        assert idx[b].tolist() == brute_fps(xyz[b].numpy().astype(np.float64), 40)


def test_fps_numba_equals_torch_large():
    xyz = torch.rand(4, 4096, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(farthest_point_sample(xyz, 256, 'numba'),
                       farthest_point_sample(xyz, 256, 'torch'))


@pytest.mark.parametrize('backend', BACKENDS)
def test_knn_matches_brute_force(backend):
    g = torch.Generator().manual_seed(2)
    xyz = torch.rand(2, 500, 3, generator=g)
    query = torch.rand(2, 37, 3, generator=g)
    idx = knn_query(xyz, query, 16, backend)
    assert idx.shape == (2, 37, 16)
    d_all = ((query.double()[:, :, None] - xyz.double()[:, None])**2).sum(-1)
    expected = d_all.sort(dim=-1).values[..., :16]
    got = torch.gather(d_all, 2, idx)
    torch.testing.assert_close(got, expected)
    # sorted ascending and no duplicates
    assert (got[..., 1:] >= got[..., :-1]).all()
    assert all(len(set(row.tolist())) == 16 for row in idx.reshape(-1, 16))


def test_knn_backends_agree():
    g = torch.Generator().manual_seed(3)
    xyz, query = torch.rand(2, 2048, 3, generator=g), torch.rand(2, 64, 3, generator=g)
    assert torch.equal(knn_query(xyz, query, 32, 'numba'), knn_query(xyz, query, 32, 'torch'))


def test_knn_ties_lower_index_first():
    xyz = torch.tensor([[[1., 0, 0], [0, 0, 0], [-1, 0, 0], [0, 1, 0]]])
    idx = knn_query(xyz, torch.zeros(1, 1, 3), 3, 'numba')
    assert idx.tolist() == [[[1, 0, 2]]]


def test_gather_points_and_grad():
    pts = torch.arange(24.).reshape(2, 4, 3).requires_grad_()
    idx = torch.tensor([[3, 0], [1, 1]])
    out = gather_points(pts, idx)
    assert out.tolist() == [[[9., 10, 11], [0, 1, 2]], [[15, 16, 17], [15, 16, 17]]]
    out.sum().backward()
    assert pts.grad[1, 1].tolist() == [2., 2., 2.] and pts.grad[0, 2].tolist() == [0, 0, 0]


@pytest.mark.parametrize('backend', BACKENDS)
def test_group_points(backend):
    xyz = torch.rand(2, 256, 3, generator=torch.Generator().manual_seed(4))
    neigh, centers, gidx, cidx = group_points(xyz, 16, 8, backend)
    assert neigh.shape == (2, 16, 8, 3) and centers.shape == (2, 16, 3)
    torch.testing.assert_close(centers, gather_points(xyz, cidx))
    torch.testing.assert_close(neigh + centers[:, :, None], gather_points(xyz, gidx))
    # the nearest neighbour of a centre is the centre itself
    assert torch.equal(gidx[..., 0], cidx)
    assert neigh[:, :, 0].abs().max() == 0


def test_op_errors():
    with pytest.raises(ValueError, match='cannot sample 10 points from a cloud of 5'):
        farthest_point_sample(torch.rand(1, 5, 3), 10)
    with pytest.raises(ValueError, match='cannot take 9 neighbours'):
        knn_query(torch.rand(1, 5, 3), torch.rand(1, 2, 3), 9)
    with pytest.raises(ValueError, match=r'\(B, N, 3\)'):
        farthest_point_sample(torch.rand(5, 3), 2)
    with pytest.raises(ValueError, match='CUDA-only'):
        farthest_point_sample(torch.rand(1, 5, 3), 2, backend='mmcv')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_backend_matches_cpu():  # pragma: no cover - runs on GPU machines only
    xyz = torch.rand(2, 2048, 3)
    idx_cpu = farthest_point_sample(xyz, 128, 'numba')
    idx_gpu = farthest_point_sample(xyz.cuda(), 128, 'auto').cpu()
    assert torch.equal(idx_cpu, idx_gpu)
    centers = gather_points(xyz, idx_cpu)
    d_cpu = gather_points(xyz, knn_query(xyz, centers, 32, 'numba'))
    d_gpu = gather_points(xyz, knn_query(xyz.cuda(), centers.cuda(), 32, 'auto').cpu())
    torch.testing.assert_close(d_cpu, d_gpu)


def brute_nn(a, b):
    return ((a.double()[:, :, None] - b.double()[:, None])**2).sum(-1).min(-1).values


def test_nearest_neighbor_chunked_equals_brute_force():
    g = torch.Generator().manual_seed(5)
    a, b = torch.rand(2, 300, 3, generator=g), torch.rand(2, 200, 3, generator=g)
    whole = nearest_neighbor_sq_dist(a, b)
    chunked = nearest_neighbor_sq_dist(a, b, max_elements=1000)  # 2 rows per chunk
    torch.testing.assert_close(whole.double(), brute_nn(a, b))
    torch.testing.assert_close(chunked, whole)


def test_chamfer_definitions_on_hand_example():
    pred = torch.tensor([[[0., 0, 0], [1, 0, 0]]])
    target = torch.tensor([[[0., 0, 0], [0, 2, 0], [3, 0, 0]]])
    # pred -> target: 0, 1 ; target -> pred: 0, 4, 4
    assert chamfer_distance_l2(pred, target).item() == pytest.approx(0.5 + 8 / 3)
    assert chamfer_distance_l1(pred, target).item() == pytest.approx((0.5 + 4 / 3) / 2)


def test_chamfer_gradient_matches_brute_force():
    g = torch.Generator().manual_seed(6)
    a = torch.rand(2, 50, 3, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.rand(2, 40, 3, generator=g, dtype=torch.float64)
    chamfer_distance_l2(a, b).backward()
    a2 = a.detach().clone().requires_grad_()
    d = ((a2[:, :, None] - b[:, None])**2).sum(-1)
    (d.min(-1).values.mean() + d.min(1).values.mean()).backward()
    torch.testing.assert_close(a.grad, a2.grad)


def test_chamfer_large_clouds_bounded_memory():
    # 8192 x 8192 per cloud would be 268M distances for B=4; chunks keep it at 16M
    g = torch.Generator().manual_seed(7)
    a, b = torch.rand(4, 8192, 3, generator=g), torch.rand(4, 8192, 3, generator=g)
    d = nearest_neighbor_sq_dist(a, b)
    sub = brute_nn(a[:, :64], b).float()
    torch.testing.assert_close(d[:, :64], sub)
