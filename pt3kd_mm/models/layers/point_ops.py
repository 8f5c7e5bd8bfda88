"""Point operations used by every point-patch model: farthest point sampling (FPS), kNN,
gather and grouping.

Each op has a pure-PyTorch path (runs anywhere, the reference for tests), a numba path (the
fast CPU path, parallel over clouds and query points, O(N) extra memory per thread) and, on
CUDA tensors, mmcv's kernels when mmcv was built with CUDA (PyTorch otherwise). ``backend='auto'``
picks numba on CPU and mmcv/PyTorch on CUDA.

Conventions (shared by all backends so they agree bit for bit on CPU):
  * FPS starts from point 0 and at each step takes the point with the largest distance to the
    selected set, the lowest index on ties (as pointnet2_ops / mmcv do).
  * kNN returns, for each query, the indices of its ``k`` nearest points sorted by increasing
    squared Euclidean distance (numba: lower index first on exact ties; PyTorch's ``topk``
    does not promise an order among exactly equal distances).
"""
import functools
from typing import Tuple

import numba
import numpy as np
import torch
from torch import Tensor

_BACKENDS = ('auto', 'torch', 'numba', 'mmcv')


# --------------------------------------------------------------------------------------------
# numba kernels (CPU)
# --------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _fps_one(xyz: np.ndarray, num_samples: int, out: np.ndarray) -> None:  # pragma: no cover
    """FPS of one (N, 3) cloud into ``out`` (num_samples,)."""
    num_points = xyz.shape[0]
    # coordinates as three contiguous arrays and the min-update separate from the argmax: the
    # update loop vectorises (SIMD), the argmax is a plain scan
    x = np.ascontiguousarray(xyz[:, 0])
    y = np.ascontiguousarray(xyz[:, 1])
    z = np.ascontiguousarray(xyz[:, 2])
    dist = np.full(num_points, np.inf, dtype=np.float32)
    last = 0
    out[0] = 0
    for s in range(1, num_samples):
        lx, ly, lz = x[last], y[last], z[last]
        for i in range(num_points):
            dx = x[i] - lx
            dy = y[i] - ly
            dz = z[i] - lz
            dist[i] = min(dist[i], dx * dx + dy * dy + dz * dz)
        best, best_i = dist[0], 0
        for i in range(1, num_points):
            if dist[i] > best:  # strict: the lowest index wins ties
                best = dist[i]
                best_i = i
        out[s] = best_i
        last = best_i


@numba.njit(cache=True)
def _knn_one(pts: np.ndarray, qx: float, qy: float, qz: float, k: int,
             out: np.ndarray) -> None:  # pragma: no cover
    """The k nearest of (N, 3) ``pts`` to one query into ``out`` (k,), nearest first."""
    num_points = pts.shape[0]
    # sorted buffer of the k best (distance, index); insertion keeps ties in index order
    best_d = np.full(k, np.inf, dtype=np.float32)
    best_i = np.full(k, num_points, dtype=np.int64)
    for i in range(num_points):
        dx = pts[i, 0] - qx
        dy = pts[i, 1] - qy
        dz = pts[i, 2] - qz
        d = dx * dx + dy * dy + dz * dz
        if d < best_d[k - 1]:
            j = k - 1
            while j > 0 and best_d[j - 1] > d:
                best_d[j] = best_d[j - 1]
                best_i[j] = best_i[j - 1]
                j -= 1
            best_d[j] = d
            best_i[j] = i
    for j in range(k):
        out[j] = best_i[j]


# Batch drivers: parallel over clouds / queries for the training process, serial for
# data-loader workers, where a thread pool started after fork() can deadlock (OpenMP is not
# fork-safe and the parent has already used it through PyTorch). They are distinct functions
# so numba's on-disk cache cannot hand one's machine code to the other.
@numba.njit(parallel=True, cache=True)
def _fps_parallel(xyz: np.ndarray, num_samples: int) -> np.ndarray:  # pragma: no cover
    out = np.empty((xyz.shape[0], num_samples), dtype=np.int64)
    for b in numba.prange(xyz.shape[0]):
        _fps_one(xyz[b], num_samples, out[b])
    return out


@numba.njit(cache=True)
def _fps_serial(xyz: np.ndarray, num_samples: int) -> np.ndarray:  # pragma: no cover
    out = np.empty((xyz.shape[0], num_samples), dtype=np.int64)
    for b in range(xyz.shape[0]):
        _fps_one(xyz[b], num_samples, out[b])
    return out


@numba.njit(parallel=True, cache=True)
def _knn_parallel(xyz: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    batch, num_query = query.shape[0], query.shape[1]
    out = np.empty((batch, num_query, k), dtype=np.int64)
    for job in numba.prange(batch * num_query):
        b = job // num_query
        q = job - b * num_query
        _knn_one(xyz[b], query[b, q, 0], query[b, q, 1], query[b, q, 2], k, out[b, q])
    return out


@numba.njit(cache=True)
def _knn_serial(xyz: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    batch, num_query = query.shape[0], query.shape[1]
    out = np.empty((batch, num_query, k), dtype=np.int64)
    for b in range(batch):
        for q in range(num_query):
            _knn_one(xyz[b], query[b, q, 0], query[b, q, 1], query[b, q, 2], k, out[b, q])
    return out


def _in_worker() -> bool:
    return torch.utils.data.get_worker_info() is not None


def _fps_numba(xyz: np.ndarray, num_samples: int) -> np.ndarray:
    serial = _in_worker() or xyz.shape[0] == 1
    return (_fps_serial if serial else _fps_parallel)(xyz, num_samples)


def _knn_numba(xyz: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    return (_knn_serial if _in_worker() else _knn_parallel)(xyz, query, k)


# --------------------------------------------------------------------------------------------
# pure PyTorch paths
# --------------------------------------------------------------------------------------------
def _fps_torch(xyz: Tensor, num_samples: int) -> Tensor:
    batch, num_points, _ = xyz.shape
    idx = xyz.new_zeros((batch, num_samples), dtype=torch.long)
    dist = xyz.new_full((batch, num_points), float('inf'))
    last = xyz.new_zeros((batch, ), dtype=torch.long)
    arange = torch.arange(batch, device=xyz.device)
    for s in range(1, num_samples):
        d = ((xyz - xyz[arange, last].unsqueeze(1))**2).sum(-1)
        dist = torch.minimum(dist, d)
        last = dist.argmax(dim=1)  # first index of the maximum
        idx[:, s] = last
    return idx


def _knn_torch(xyz: Tensor, query: Tensor, k: int, chunk_size: int) -> Tensor:
    """Exact kNN by chunks of queries so the distance matrix stays (B, chunk, N)."""
    out = []
    for start in range(0, query.shape[1], chunk_size):
        q = query[:, start:start + chunk_size]
        # the same arithmetic as the numba kernel (no |a|^2 + |b|^2 - 2ab expansion), so the
        # two paths rank the same distances
        d = ((q.unsqueeze(2) - xyz.unsqueeze(1))**2).sum(-1)
        out.append(d.topk(k, dim=-1, largest=False, sorted=True).indices)
    return torch.cat(out, dim=1)


@functools.lru_cache(maxsize=None)
def _mmcv_cuda_ops():
    """mmcv's CUDA FPS / kNN, or None when mmcv was built without CUDA (probed once on a tiny
    CUDA tensor, since a CPU build imports fine and fails only when called)."""
    try:
        from mmcv.ops import furthest_point_sample, knn
        probe = torch.rand(1, 8, 3, device='cuda')
        furthest_point_sample(probe, 2)
        knn(2, probe, probe[:, :2].contiguous())
    except Exception:  # pragma: no cover - depends on the mmcv build and the machine
        return None
    return furthest_point_sample, knn


def _resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in _BACKENDS:
        raise ValueError(f'backend must be one of {_BACKENDS}, got {backend!r}')
    if backend == 'auto':
        if device.type == 'cpu':
            return 'numba'
        return 'mmcv' if _mmcv_cuda_ops() is not None else 'torch'
    if backend == 'numba' and device.type != 'cpu':
        raise ValueError('the numba backend runs on CPU tensors only')
    if backend == 'mmcv' and device.type != 'cuda':
        raise ValueError("mmcv's FPS and kNN are CUDA-only; use backend='numba' or 'torch'")
    if backend == 'mmcv' and _mmcv_cuda_ops() is None:
        raise RuntimeError("backend='mmcv' needs mmcv built with CUDA ops (FORCE_CUDA=1); "
                           "use backend='auto' to fall back to PyTorch")
    return backend


def _check_xyz(name: str, xyz: Tensor) -> None:
    if xyz.dim() != 3 or xyz.shape[-1] != 3:
        raise ValueError(f'{name} must have shape (B, N, 3), got {tuple(xyz.shape)}')


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def farthest_point_sample(xyz: Tensor, num_samples: int, backend: str = 'auto') -> Tensor:
    """Farthest point sampling.

    Args:
        xyz: (B, N, 3) coordinates.
        num_samples: M, the number of points to pick (M <= N).
        backend: 'auto', 'torch', 'numba' or 'mmcv' (CUDA).

    Returns:
        (B, M) long indices into N; the first one is always 0.
    """
    _check_xyz('xyz', xyz)
    num_points = xyz.shape[1]
    if not 0 < num_samples <= num_points:
        raise ValueError(f'cannot sample {num_samples} points from a cloud of {num_points}')
    backend = _resolve_backend(backend, xyz.device)
    xyz = xyz.detach().float().contiguous()
    if backend == 'numba':
        return torch.from_numpy(_fps_numba(xyz.numpy(), int(num_samples)))
    if backend == 'mmcv':
        fps, _ = _mmcv_cuda_ops()
        return fps(xyz, num_samples).long()
    return _fps_torch(xyz, num_samples)


def knn_query(xyz: Tensor, query: Tensor, k: int, backend: str = 'auto',
              chunk_size: int = 64) -> Tensor:
    """k nearest neighbours of each query point.

    Args:
        xyz: (B, N, 3) the points searched.
        query: (B, M, 3) the query points.
        k: neighbours per query (k <= N).
        backend: 'auto', 'torch', 'numba' or 'mmcv' (CUDA, k < 100).
        chunk_size: queries per chunk on the PyTorch path (bounds its memory to
            B * chunk_size * N distances).

    Returns:
        (B, M, k) long indices into N, nearest first.
    """
    _check_xyz('xyz', xyz)
    _check_xyz('query', query)
    if xyz.shape[0] != query.shape[0]:
        raise ValueError(f'batch sizes differ: xyz {xyz.shape[0]} vs query {query.shape[0]}')
    if not 0 < k <= xyz.shape[1]:
        raise ValueError(f'cannot take {k} neighbours from a cloud of {xyz.shape[1]} points')
    backend = _resolve_backend(backend, xyz.device)
    xyz = xyz.detach().float().contiguous()
    query = query.detach().float().contiguous()
    if backend == 'numba':
        return torch.from_numpy(_knn_numba(xyz.numpy(), query.numpy(), int(k)))
    if backend == 'mmcv' and k < 100:
        _, knn = _mmcv_cuda_ops()
        # mmcv returns (B, k, M) int32, sorted by distance
        return knn(k, xyz, query).transpose(1, 2).long().contiguous()
    return _knn_torch(xyz, query, k, chunk_size)


def gather_points(points: Tensor, idx: Tensor) -> Tensor:
    """Gather rows of ``points`` per cloud (differentiable w.r.t. ``points``).

    Args:
        points: (B, N, C).
        idx: (B, ...) long indices into N.

    Returns:
        (B, ..., C).
    """
    if points.dim() != 3:
        raise ValueError(f'points must have shape (B, N, C), got {tuple(points.shape)}')
    batch = points.shape[0]
    flat = idx.reshape(batch, -1)
    out = torch.gather(points, 1, flat.unsqueeze(-1).expand(-1, -1, points.shape[-1]))
    return out.reshape(*idx.shape, points.shape[-1])


def group_points(xyz: Tensor, num_groups: int, group_size: int,
                 backend: str = 'auto') -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """FPS centres + kNN neighbourhoods, re-centred on their centre.

    Args:
        xyz: (B, N, 3).
        num_groups: G centres chosen by FPS.
        group_size: K neighbours per centre (the centre itself is the first one).

    Returns:
        neighborhood (B, G, K, 3) relative coordinates, centers (B, G, 3),
        group_idx (B, G, K) and center_idx (B, G), both long indices into N.
    """
    center_idx = farthest_point_sample(xyz, num_groups, backend)
    center_idx = center_idx.to(xyz.device)
    centers = gather_points(xyz, center_idx)
    group_idx = knn_query(xyz, centers, group_size, backend).to(xyz.device)
    neighborhood = gather_points(xyz, group_idx) - centers.unsqueeze(2)
    return neighborhood, centers, group_idx, center_idx


def nearest_neighbor_sq_dist(src: Tensor, dst: Tensor, max_elements: int = 1 << 24) -> Tensor:
    """Squared distance from every point of ``src`` to its nearest point in ``dst``.

    The nearest neighbour is searched without autograd in chunks of ``src`` rows so that at most
    ``max_elements`` pairwise distances exist at once (an 8192 x 8192 x 32 batch is never built
    whole); the returned distances are then recomputed from the gathered neighbours, so they are
    differentiable w.r.t. both inputs with O(B * N) saved memory.

    Args:
        src: (B, N, 3).
        dst: (B, M, 3).

    Returns:
        (B, N) squared distances.
    """
    if src.dim() != 3 or dst.dim() != 3 or src.shape[0] != dst.shape[0] \
            or src.shape[-1] != dst.shape[-1]:
        raise ValueError(f'expected (B, N, D) and (B, M, D) point sets, got '
                         f'{tuple(src.shape)} and {tuple(dst.shape)}')
    if src.shape[1] == 0 or dst.shape[1] == 0:
        raise ValueError('Chamfer distance of an empty point set is undefined')
    batch, num_src, num_dst = src.shape[0], src.shape[1], dst.shape[1]
    chunk = max(1, max_elements // max(1, batch * num_dst))
    nn_idx = []
    with torch.no_grad():
        s_det, d_det = src.detach(), dst.detach()
        for start in range(0, num_src, chunk):
            d = ((s_det[:, start:start + chunk].unsqueeze(2) - d_det.unsqueeze(1))**2).sum(-1)
            nn_idx.append(d.argmin(dim=-1))
    nearest = gather_points(dst, torch.cat(nn_idx, dim=1))
    return ((src - nearest)**2).sum(-1)
