"""Point operations used by every point-patch model: farthest point sampling (FPS), kNN,
gather and grouping.

Each op has a pure-PyTorch path (runs anywhere, the reference for tests), a numba path (the
fast CPU path, below) and, on CUDA tensors, mmcv's kernels when mmcv was built with CUDA
(PyTorch otherwise). ``backend='auto'`` picks numba on CPU and mmcv/PyTorch on CUDA.

Conventions (shared by all backends so they agree bit for bit on CPU):
  * FPS starts from point 0 and at each step takes the point with the largest distance to the
    selected set, the lowest index on ties (as pointnet2_ops / mmcv do).
  * kNN returns, for each query, the indices of its ``k`` nearest points sorted by increasing
    squared Euclidean distance (numba: lower index first on exact ties; PyTorch's ``topk``
    does not promise an order among exactly equal distances).
  * A squared distance is always the float32 expression ``dx*dx + dy*dy + dz*dz`` (no fused
    multiply-add), so every path ranks the same values.

numba algorithms. All give exactly the indices of the brute-force kernels (same float32
distances, same tie rules) on any cloud, duplicates and ties included:
  * Brute force: FPS updates every point's distance at each step (O(N M)); kNN scans all N
    points per query into a sorted buffer of k. Used for small problems (see
    ``_use_bucket_fps`` / ``_use_grid_knn``) and for clouds or queries with a non-finite
    coordinate or one beyond 1e18 in magnitude.
  * Bucket FPS (the QuickFPS / fpsample "kd-line" idea), for N >= 512 and M >= 64: the cloud is
    split once into kd-tree leaves of at most 192 points (mean split along the widest axis,
    median split when that is too unbalanced), grouped by 8 consecutive leaves. Leaves and
    groups keep a bounding box and the max (and lowest-index arg-max) of their points'
    distances to the selected set. A new centre visits only the groups and leaves whose box is
    closer than their max distance, since elsewhere no distance can decrease; a leaf whose
    arg-max keeps its distance keeps its max too, so it defers the update (applied with later
    centres when its arg-max changes). The next centre is the largest leaf maximum, ties to the
    lowest index. A box bound is the same float32 expression on the per-axis gaps, which
    rounding cannot push above the distance of a point in the box, so a skip never hides a
    change.
  * Grid kNN, for N >= 128 and k <= N / 4: each cloud is bucketed once into a uniform grid of
    cubic cells (about min(4, max(1, k / 8)) points per cell if the points filled the bounding
    box; thin axes get fewer cells), points stored cell by cell with each slab's coordinate
    range. A query visits rings of cells around its own cell (a column of cells is one
    contiguous run), skips cells whose lower distance bound exceeds the current k-th distance
    and stops once the k-th distance is below the bound for every point outside the searched
    block; bounds use coordinates of real points, so they are exact under float32 rounding.
    Candidates are (distance, index) keys in a sorted buffer, so ties go to the lower index.
FPS is parallel over clouds; kNN builds the grids in parallel over clouds and answers chunks of
queries in parallel. Data-loader workers use separate serial drivers (a thread pool started
after fork() can deadlock).
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


# ============================================================================================
# ball query (pointnet2 semantics)
# ============================================================================================
@numba.njit(cache=True)
def _ball_one(pts: np.ndarray, qx: float, qy: float, qz: float, r2: float, k: int,
              out: np.ndarray) -> None:  # pragma: no cover
    """The first k points of (N, 3) ``pts`` (index order) with squared distance < ``r2`` to one
    query into ``out`` (k,), the pointnet2 kernel's loop: distances in float32 as
    ``(dx*dx + dy*dy) + dz*dz``, stopping at the k-th point found."""
    cnt = 0
    for i in range(pts.shape[0]):
        dx = np.float32(pts[i, 0] - qx)
        dy = np.float32(pts[i, 1] - qy)
        dz = np.float32(pts[i, 2] - qz)
        d = np.float32(np.float32(dx * dx) + np.float32(dy * dy)) + np.float32(dz * dz)
        if d < r2:
            if cnt == 0:
                for j in range(k):
                    out[j] = i
            out[cnt] = i
            cnt += 1
            if cnt == k:
                return
    if cnt == 0:
        for j in range(k):
            out[j] = 0


@numba.njit(parallel=True, cache=True)
def _ball_parallel(xyz: np.ndarray, query: np.ndarray, r2: float,
                   k: int) -> np.ndarray:  # pragma: no cover
    batch, num_query = query.shape[0], query.shape[1]
    out = np.empty((batch, num_query, k), dtype=np.int64)
    for job in numba.prange(batch * num_query):
        b = job // num_query
        q = job - b * num_query
        _ball_one(xyz[b], query[b, q, 0], query[b, q, 1], query[b, q, 2], r2, k, out[b, q])
    return out


@numba.njit(cache=True)
def _ball_serial(xyz: np.ndarray, query: np.ndarray, r2: float,
                 k: int) -> np.ndarray:  # pragma: no cover
    batch, num_query = query.shape[0], query.shape[1]
    out = np.empty((batch, num_query, k), dtype=np.int64)
    for b in range(batch):
        for q in range(num_query):
            _ball_one(xyz[b], query[b, q, 0], query[b, q, 1], query[b, q, 2], r2, k, out[b, q])
    return out


# ============================================================================================
# bucket FPS (kd-tree leaves with lazy updates)
# ============================================================================================
_FPS_LEAF_SIZE = 192  # most points in a leaf (bucket) of the bucket FPS
_FPS_GROUP_SIZE = 8  # consecutive leaves per group (the upper level of the bucket FPS)
_FPS_PENDING = 8  # centres a leaf may defer before it must apply them


@numba.njit(cache=True)
def _swap_points(pts: np.ndarray, perm: np.ndarray, i: int, j: int) -> None:  # pragma: no cover
    for a in range(3):
        pts[a, i], pts[a, j] = pts[a, j], pts[a, i]
    perm[i], perm[j] = perm[j], perm[i]


@numba.njit(cache=True)
def _select_points(pts: np.ndarray, perm: np.ndarray, axis: int, lo: int, hi: int,
                   nth: int) -> None:  # pragma: no cover
    """Reorder points lo:hi of ``pts`` (3, N) / ``perm`` (N,) so that the one at ``nth`` has the
    coordinate of rank nth along ``axis``, none larger before it, none smaller after it
    (quickselect, median-of-three pivot)."""
    key = pts[axis]
    while hi - lo > 2:
        a = key[lo]
        b = key[(lo + hi) // 2]
        c = key[hi - 1]
        if a > b:
            a, b = b, a
        pivot = b if b < c else (a if a > c else c)
        i, j = lo, hi - 1
        while i <= j:
            while key[i] < pivot:
                i += 1
            while key[j] > pivot:
                j -= 1
            if i <= j:
                _swap_points(pts, perm, i, j)
                i += 1
                j -= 1
        if nth <= j:
            hi = j + 1
        elif nth >= i:
            lo = i
        else:
            return
    if hi - lo == 2 and key[lo] > key[lo + 1]:
        _swap_points(pts, perm, lo, lo + 1)


@numba.njit(cache=True)
def _range_stats(row: np.ndarray, lo: int,
                 hi: int) -> Tuple[float, float, float]:  # pragma: no cover
    """(min, max, sum) of ``row[lo:hi]``."""
    mn = row[lo]
    mx = row[lo]
    s = 0.0
    for i in range(lo, hi):
        v = row[i]
        mn = min(mn, v)
        mx = max(mx, v)
        s += v
    return mn, mx, s


@numba.njit(cache=True)
def _split_points(src: np.ndarray, src_perm: np.ndarray, dst: np.ndarray, dst_perm: np.ndarray,
                  axis: int, lo: int, hi: int, value: float) -> int:  # pragma: no cover
    """Copy points lo:hi from ``src`` (3, N) / ``src_perm`` to ``dst`` / ``dst_perm``, those with
    coordinate < ``value`` along ``axis`` first; returns the position of the first other one.
    Branch-free: each point is written at both ends and only one cursor advances."""
    key = src[axis]
    left = lo
    right = hi - 1
    for i in range(lo, hi):
        x, y, z, p = src[0, i], src[1, i], src[2, i], src_perm[i]
        dst[0, left] = x
        dst[1, left] = y
        dst[2, left] = z
        dst_perm[left] = p
        dst[0, right] = x
        dst[1, right] = y
        dst[2, right] = z
        dst_perm[right] = p
        c = np.int64(key[i] < value)
        left += c
        right -= 1 - c
    return left


@numba.njit(cache=True)
def _kd_buckets(xyz: np.ndarray, leaf_size: int, pts: np.ndarray,
                perm: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Split one (N, 3) cloud into kd-tree leaves of at most ``leaf_size`` points.

    A node is split along the widest axis of its bounding box at the mean coordinate (as
    QuickFPS / fpsample do), or at the median when that leaves fewer than 1/8 of the points on
    one side, so the depth stays O(log N). A node of identical points is a leaf whatever its
    size. Fills ``pts`` (3, N) with the coordinates and ``perm`` (N,) with the original indices,
    leaf after leaf; returns the leaf bounds (L + 1,) and the leaves' boxes (L, 6) as (xmin,
    xmax, ymin, ymax, zmin, zmax).
    """
    n = xyz.shape[0]
    for i in range(n):
        pts[0, i] = xyz[i, 0]
        pts[1, i] = xyz[i, 1]
        pts[2, i] = xyz[i, 2]
        perm[i] = i
    # nodes are split out of place, alternating between (pts, perm) and (alt, alt_perm)
    alt = np.empty_like(pts)
    alt_perm = np.empty_like(perm)
    max_leaves = n // max(1, leaf_size // 8) + 1
    bounds = np.empty(max_leaves + 1, dtype=np.int64)
    box = np.empty((max_leaves, 6), dtype=np.float32)
    bounds[0] = 0
    num_leaves = 0
    stack = np.empty((256, 3), dtype=np.int64)  # lo, hi, 1 when the node's points are in alt
    stack[0, 0] = 0
    stack[0, 1] = n
    stack[0, 2] = 0
    top = 1
    lo_v = np.empty(3, dtype=np.float32)
    hi_v = np.empty(3, dtype=np.float32)
    sums = np.empty(3)
    while top > 0:
        top -= 1
        lo, hi, in_alt = stack[top, 0], stack[top, 1], stack[top, 2]
        src, src_perm = (alt, alt_perm) if in_alt else (pts, perm)
        dst, dst_perm = (pts, perm) if in_alt else (alt, alt_perm)
        for a in range(3):
            lo_v[a], hi_v[a], sums[a] = _range_stats(src[a], lo, hi)
        axis = 0
        for a in range(1, 3):
            if hi_v[a] - lo_v[a] > hi_v[axis] - lo_v[axis]:
                axis = a
        if hi - lo <= leaf_size or not hi_v[axis] > lo_v[axis]:
            if in_alt:
                for i in range(lo, hi):
                    pts[0, i] = alt[0, i]
                    pts[1, i] = alt[1, i]
                    pts[2, i] = alt[2, i]
                    perm[i] = alt_perm[i]
            for a in range(3):
                box[num_leaves, 2 * a] = lo_v[a]
                box[num_leaves, 2 * a + 1] = hi_v[a]
            num_leaves += 1
            bounds[num_leaves] = hi
            continue
        mid = _split_points(src, src_perm, dst, dst_perm, axis, lo, hi, sums[axis] / (hi - lo))
        child_in_alt = 1 - in_alt
        if min(mid - lo, hi - mid) < max(1, (hi - lo) // 8):
            mid = (lo + hi) // 2
            _select_points(dst, dst_perm, axis, lo, hi, mid)
        # right child below the left one: leaves come out in position order
        stack[top, 0] = mid
        stack[top, 1] = hi
        stack[top, 2] = child_in_alt
        stack[top + 1, 0] = lo
        stack[top + 1, 1] = mid
        stack[top + 1, 2] = child_in_alt
        top += 2
    return bounds[:num_leaves + 1], box[:num_leaves]


@numba.njit(cache=True)
def _fps_bucket_apply(pts: np.ndarray, dist: np.ndarray, lo: int, hi: int, cx: float, cy: float,
                      cz: float) -> None:  # pragma: no cover
    """min-update ``dist[lo:hi]`` with the squared distances of points lo:hi to one centre.

    ``np.fmin`` equals ``min`` here (no NaN) and, with unsigned indices, lets the loop
    vectorise without masked stores.
    """
    x = pts[0]
    y = pts[1]
    z = pts[2]
    for i in range(np.uint64(lo), np.uint64(hi)):
        dx = x[i] - cx
        dy = y[i] - cy
        dz = z[i] - cz
        dist[i] = np.fmin(dist[i], dx * dx + dy * dy + dz * dz)


@numba.njit(cache=True)
def _finite_bounded(xyz: np.ndarray) -> bool:  # pragma: no cover
    """True when every coordinate is finite and at most 1e18 in magnitude, so no squared distance
    overflows float32 (the bucket / grid kernels then equal the brute-force ones)."""
    for i in range(xyz.shape[0]):
        for a in range(3):
            v = xyz[i, a]
            if not (-1e18 <= v <= 1e18):
                return False
    return True


@numba.njit(cache=True)
def _fps_bucket_one(xyz: np.ndarray, num_samples: int, leaf_size: int, group_size: int,
                    out: np.ndarray) -> None:  # pragma: no cover
    """Exact FPS of one (N, 3) cloud into ``out`` (num_samples,) with kd-tree buckets.

    The leaves of :func:`_kd_buckets` (consecutive ones are neighbours in the tree) are grouped
    by ``group_size``; leaves and groups keep a bounding box and the max (and lowest-index
    arg-max) of their points' distances to the selected set. A new centre skips every group /
    leaf whose box is not closer than that max (no distance in it can decrease); a leaf whose
    arg-max keeps its distance also keeps its max, so its update is deferred (up to
    ``_FPS_PENDING`` centres, applied together when the arg-max changes). Same result as
    :func:`_fps_one`: every distance is the same float32 expression, the box bounds are that
    expression on per-axis gaps (rounding cannot make them exceed a point's distance) and the
    next centre is the lowest index among the points at the maximum distance.
    """
    n = xyz.shape[0]
    if not _finite_bounded(xyz):
        _fps_one(xyz, num_samples, out)
        return
    pts = np.empty((3, n), dtype=np.float32)
    perm = np.empty(n, dtype=np.int64)
    bounds, box = _kd_buckets(xyz, leaf_size, pts, perm)
    num_leaves = box.shape[0]
    num_groups = (num_leaves + group_size - 1) // group_size
    px = pts[0]
    py = pts[1]
    pz = pts[2]
    dist = np.full(n, np.inf, dtype=np.float32)
    # per leaf: max distance, position and index of its arg-max, deferred centres (positions)
    bmax = np.full(num_leaves, np.inf, dtype=np.float32)
    barg = np.empty(num_leaves, dtype=np.int64)
    bidx = np.empty(num_leaves, dtype=np.int64)
    pend = np.empty((num_leaves, _FPS_PENDING), dtype=np.int64)
    npend = np.zeros(num_leaves, dtype=np.int64)
    # per group: box, max distance and the leaf holding it
    gbox = np.empty((num_groups, 6), dtype=np.float32)
    gmax = np.full(num_groups, np.inf, dtype=np.float32)
    gleaf = np.empty(num_groups, dtype=np.int64)
    for b in range(num_leaves):
        a = bounds[b]
        for i in range(bounds[b] + 1, bounds[b + 1]):
            if perm[i] < perm[a]:
                a = i
        barg[b] = a
        bidx[b] = perm[a]
    for g in range(num_groups):
        b0, b1 = g * group_size, min((g + 1) * group_size, num_leaves)
        gleaf[g] = b0
        for j in range(6):
            gbox[g, j] = box[b0, j]
        for b in range(b0, b1):
            if bidx[b] < bidx[gleaf[g]]:
                gleaf[g] = b
            for j in range(0, 6, 2):
                gbox[g, j] = min(gbox[g, j], box[b, j])
                gbox[g, j + 1] = max(gbox[g, j + 1], box[b, j + 1])
    last = 0  # position of the last centre
    while perm[last] != 0:
        last += 1
    zero = np.float32(0.0)
    out[0] = 0
    for s in range(1, num_samples):
        cx, cy, cz = px[last], py[last], pz[last]
        best_g = 0
        for g in range(num_groups):
            gx = max(gbox[g, 0] - cx, cx - gbox[g, 1], zero)
            gy = max(gbox[g, 2] - cy, cy - gbox[g, 3], zero)
            gz = max(gbox[g, 4] - cz, cz - gbox[g, 5], zero)
            if gx * gx + gy * gy + gz * gz < gmax[g]:
                b0, b1 = g * group_size, min((g + 1) * group_size, num_leaves)
                for b in range(b0, b1):
                    bm = bmax[b]
                    # lower bound of the float32 distance from the centre to the leaf's points
                    gx = max(box[b, 0] - cx, cx - box[b, 1], zero)
                    gy = max(box[b, 2] - cy, cy - box[b, 3], zero)
                    gz = max(box[b, 4] - cz, cz - box[b, 5], zero)
                    if not gx * gx + gy * gy + gz * gz < bm:
                        continue
                    p = barg[b]
                    dx = px[p] - cx
                    dy = py[p] - cy
                    dz = pz[p] - cz
                    if dx * dx + dy * dy + dz * dz >= bm and npend[b] < _FPS_PENDING:
                        # the arg-max keeps its distance, so the leaf's max and arg-max stay
                        # valid (the other distances can only decrease): defer the update
                        pend[b, npend[b]] = last
                        npend[b] += 1
                        continue
                    lo, hi = bounds[b], bounds[b + 1]
                    for t in range(npend[b]):
                        c = pend[b, t]
                        _fps_bucket_apply(pts, dist, lo, hi, px[c], py[c], pz[c])
                    npend[b] = 0
                    _fps_bucket_apply(pts, dist, lo, hi, cx, cy, cz)
                    m, a = dist[lo], lo
                    for i in range(lo + 1, hi):
                        d = dist[i]
                        if d > m or (d == m and perm[i] < perm[a]):
                            m = d
                            a = i
                    bmax[b] = m
                    barg[b] = a
                    bidx[b] = perm[a]
                lb = b0
                for b in range(b0 + 1, b1):
                    if bmax[b] > bmax[lb] or (bmax[b] == bmax[lb] and bidx[b] < bidx[lb]):
                        lb = b
                gmax[g] = bmax[lb]
                gleaf[g] = lb
            if gmax[g] > gmax[best_g] or (gmax[g] == gmax[best_g]
                                          and bidx[gleaf[g]] < bidx[gleaf[best_g]]):
                best_g = g
        last = barg[gleaf[best_g]]
        out[s] = perm[last]


@numba.njit(parallel=True, cache=True)
def _fps_bucket_parallel(xyz: np.ndarray, num_samples: int) -> np.ndarray:  # pragma: no cover
    out = np.empty((xyz.shape[0], num_samples), dtype=np.int64)
    for b in numba.prange(xyz.shape[0]):
        _fps_bucket_one(xyz[b], num_samples, _FPS_LEAF_SIZE, _FPS_GROUP_SIZE, out[b])
    return out


@numba.njit(cache=True)
def _fps_bucket_serial(xyz: np.ndarray, num_samples: int) -> np.ndarray:  # pragma: no cover
    out = np.empty((xyz.shape[0], num_samples), dtype=np.int64)
    for b in range(xyz.shape[0]):
        _fps_bucket_one(xyz[b], num_samples, _FPS_LEAF_SIZE, _FPS_GROUP_SIZE, out[b])
    return out


# ============================================================================================
# grid kNN
# ============================================================================================
@numba.njit(cache=True)
def _grid_shape(xyz: np.ndarray,
                points_per_cell: float) -> Tuple[int, int, int]:  # pragma: no cover
    """Cells per axis of a uniform grid of cubic cells over the cloud's bounding box: about
    ``points_per_cell`` points per cell if the points filled the box, at most
    2 N / points_per_cell + 8 cells; a flat or thin cloud gets fewer cells along its thin
    axes."""
    n = xyz.shape[0]
    ext = np.empty(3)
    for a in range(3):
        mn = mx = np.float64(xyz[0, a])
        for i in range(1, n):
            v = np.float64(xyz[i, a])
            mn = min(mn, v)
            mx = max(mx, v)
        ext[a] = mx - mn
    target = max(1.0, n / points_per_cell)
    e0 = max(ext[0], ext[1], ext[2])
    e2 = min(ext[0], ext[1], ext[2])
    e1 = ext[0] + ext[1] + ext[2] - e0 - e2
    if not e0 > 0.0:
        return 1, 1, 1
    # the side for the points spread over 1, 2 or 3 axes, the largest count that fits
    side = e0 / target
    if e1 > 0.0 and np.sqrt(e0 * e1 / target) <= e1:
        side = np.sqrt(e0 * e1 / target)
        if e2 > 0.0 and (e0 * e1 * e2 / target)**(1.0 / 3.0) <= e2:
            side = (e0 * e1 * e2 / target)**(1.0 / 3.0)
    while True:
        nx = max(1, min(int(np.ceil(ext[0] / side)), n))
        ny = max(1, min(int(np.ceil(ext[1] / side)), n))
        nz = max(1, min(int(np.ceil(ext[2] / side)), n))
        if nx * ny * nz <= 2.0 * target + 8:
            return nx, ny, nz
        side *= 1.1


@numba.njit(cache=True)
def _grid_build(xyz: np.ndarray, nx: int, ny: int, nz: int, sorted_xyz: np.ndarray,
                sorted_idx: np.ndarray, cell_start: np.ndarray, axis_info: np.ndarray,
                geom: np.ndarray) -> None:  # pragma: no cover
    """Bucket one (N, 3) cloud into an nx x ny x nz grid over its bounding box.

    Fills ``sorted_xyz`` (3, N) and ``sorted_idx`` (N,) with the points cell by cell (index
    order within a cell), ``cell_start`` (nx*ny*nz + 1,) with each cell's first position and
    ``axis_info`` (3, 4, >= max(nx, ny, nz) + 1) per axis with, for each slab of cells: the min
    and max coordinate of its points (rows 0, 1), the max coordinate of the points in the slabs
    before it (row 2) and the min coordinate of the points in it and the slabs after it (row 3).
    """
    n = xyz.shape[0]
    dims = (nx, ny, nz)
    lo = np.empty(3)
    scale = np.empty(3)
    for a in range(3):
        mn = mx = np.float64(xyz[0, a])
        for i in range(1, n):
            v = np.float64(xyz[i, a])
            mn = min(mn, v)
            mx = max(mx, v)
        lo[a] = mn
        scale[a] = dims[a] / (mx - mn) if mx > mn else 0.0
        geom[0, a] = lo[a]
        geom[1, a] = scale[a]
        for j in range(axis_info.shape[2]):
            axis_info[a, 0, j] = np.inf
            axis_info[a, 1, j] = -np.inf
    num_cells = nx * ny * nz
    cell = np.empty(n, dtype=np.int64)
    for c in range(num_cells + 1):
        cell_start[c] = 0
    for i in range(n):
        c = 0
        for a in range(3):
            v = xyz[i, a]
            f = (np.float64(v) - lo[a]) * scale[a]
            j = min(int(f), dims[a] - 1)
            c = c * dims[a] + j
            axis_info[a, 0, j] = min(axis_info[a, 0, j], v)
            axis_info[a, 1, j] = max(axis_info[a, 1, j], v)
        cell[i] = c
        cell_start[c + 1] += 1
    for c in range(num_cells):
        cell_start[c + 1] += cell_start[c]
    fill = np.empty(num_cells, dtype=np.int64)
    for c in range(num_cells):
        fill[c] = cell_start[c]
    for i in range(n):
        p = fill[cell[i]]
        fill[cell[i]] += 1
        sorted_xyz[0, p] = xyz[i, 0]
        sorted_xyz[1, p] = xyz[i, 1]
        sorted_xyz[2, p] = xyz[i, 2]
        sorted_idx[p] = i
    for a in range(3):
        m = dims[a]
        axis_info[a, 2, 0] = -np.inf
        for j in range(m):
            axis_info[a, 2, j + 1] = max(axis_info[a, 2, j], axis_info[a, 1, j])
        axis_info[a, 3, m] = np.inf
        for j in range(m - 1, -1, -1):
            axis_info[a, 3, j] = min(axis_info[a, 3, j + 1], axis_info[a, 0, j])


@numba.njit(cache=True)
def _grid_cell_of(v: float, lo: float, scale: float, m: int) -> int:  # pragma: no cover
    """The slab (0..m-1) of coordinate v along an axis with origin lo and ``scale`` slabs per
    unit length, clamped to the grid (a query may lie outside it)."""
    f = (np.float64(v) - lo) * scale
    if not f > 0.0:
        return 0
    if f >= m:
        return m - 1
    return int(f)


@numba.njit(cache=True)
def _knn_grid_one(sorted_xyz: np.ndarray, sorted_idx: np.ndarray, cell_start: np.ndarray,
                  axis_info: np.ndarray, geom: np.ndarray, nx: int, ny: int, nz: int, qx: float,
                  qy: float, qz: float, k: int, best: np.ndarray, scratch: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover
    """The k nearest points of a gridded cloud to one query into ``out`` (k,), nearest first,
    lower index first on equal distances (exactly the result of :func:`_knn_one`).

    Visits rings of cells (Chebyshev distance r = 0, 1, ... from the query's cell); a ring's
    cells of one (x, y) column are contiguous in ``sorted_xyz``, so they are scanned as one run
    after trimming the cells (and skipping the columns) whose lower distance bound exceeds the
    current k-th distance. Stops when the k-th distance is below the lower bound for every point
    outside the searched block. The bounds are the float32 distance expression on per-axis gaps
    to coordinates of real points (``axis_info``), which rounding cannot make exceed a computed
    distance. Candidates are int64 keys ``distance bits << 32 | index`` (non-negative float32
    bit patterns order like their values), kept sorted in ``best`` (k,) by insertion, so ties go
    to the lower index; ``scratch`` (64,) float32 holds the distances of a block of points.
    """
    zero = np.float32(0.0)
    inf = np.float32(np.inf)
    sx = sorted_xyz[0]
    sy = sorted_xyz[1]
    sz = sorted_xyz[2]
    bits = scratch.view(np.int32)
    block = scratch.shape[0]
    big = np.int64(0x7FFFFFFF) << 32
    for j in range(k):
        best[j] = big
    worst = big  # best[k - 1]
    kth = inf
    cx = _grid_cell_of(qx, geom[0, 0], geom[1, 0], nx)
    cy = _grid_cell_of(qy, geom[0, 1], geom[1, 1], ny)
    cz = _grid_cell_of(qz, geom[0, 2], geom[1, 2], nz)
    r = 0
    while True:
        x0, x1 = max(cx - r, 0), min(cx + r, nx - 1)
        y0, y1 = max(cy - r, 0), min(cy + r, ny - 1)
        z0, z1 = max(cz - r, 0), min(cz + r, nz - 1)
        for ix in range(x0, x1 + 1):
            gx = max(axis_info[0, 0, ix] - qx, qx - axis_info[0, 1, ix], zero)
            gx2 = gx * gx
            if gx2 > kth:
                continue
            on_x = ix == cx - r or ix == cx + r
            for iy in range(y0, y1 + 1):
                gy = max(axis_info[1, 0, iy] - qy, qy - axis_info[1, 1, iy], zero)
                gxy = gx2 + gy * gy
                if gxy > kth:
                    continue
                base = (ix * ny + iy) * nz
                full = on_x or iy == cy - r or iy == cy + r
                for part in range(2):
                    if full:
                        if part == 1:
                            break
                        za, zb = z0, z1
                    elif part == 0:
                        za = zb = cz - r
                    else:
                        if r == 0:
                            break
                        za = zb = cz + r
                    if za < 0 or zb >= nz:
                        continue
                    # trim the z run to the cells the current k-th distance can reach
                    while za <= zb:
                        gz = max(axis_info[2, 0, za] - qz, qz - axis_info[2, 1, za], zero)
                        if not gxy + gz * gz > kth:
                            break
                        za += 1
                    while zb > za:
                        gz = max(axis_info[2, 0, zb] - qz, qz - axis_info[2, 1, zb], zero)
                        if not gxy + gz * gz > kth:
                            break
                        zb -= 1
                    if za > zb:
                        continue
                    p, hi = cell_start[base + za], cell_start[base + zb + 1]
                    while p < hi:
                        e = min(p + block, hi)
                        for t in range(p, e):
                            dx = sx[t] - qx
                            dy = sy[t] - qy
                            dz = sz[t] - qz
                            scratch[t - p] = dx * dx + dy * dy + dz * dz
                        for t in range(p, e):
                            key = (np.int64(bits[t - p]) << 32) | sorted_idx[t]
                            if key < worst:
                                j = k - 1
                                while j > 0 and best[j - 1] > key:
                                    best[j] = best[j - 1]
                                    j -= 1
                                best[j] = key
                                worst = best[k - 1]
                        p = e
        if worst != big:
            bits[0] = worst >> 32
            kth = scratch[0]
        if x0 == 0 and y0 == 0 and z0 == 0 and x1 == nx - 1 and y1 == ny - 1 and z1 == nz - 1:
            break
        bound = inf
        if x0 > 0:
            g = max(qx - axis_info[0, 2, x0], zero)
            bound = min(bound, g * g)
        if x1 < nx - 1:
            g = max(axis_info[0, 3, x1 + 1] - qx, zero)
            bound = min(bound, g * g)
        if y0 > 0:
            g = max(qy - axis_info[1, 2, y0], zero)
            bound = min(bound, g * g)
        if y1 < ny - 1:
            g = max(axis_info[1, 3, y1 + 1] - qy, zero)
            bound = min(bound, g * g)
        if z0 > 0:
            g = max(qz - axis_info[2, 2, z0], zero)
            bound = min(bound, g * g)
        if z1 < nz - 1:
            g = max(axis_info[2, 3, z1 + 1] - qz, zero)
            bound = min(bound, g * g)
        if kth < bound:
            break
        r += 1
    for j in range(k):
        out[j] = best[j] & 0xFFFFFFFF


_KNN_CHUNK = 16  # queries per parallel job (one buffer allocation per job)


@numba.njit(cache=True)
def _knn_grid_max_cells(num_points: int, k: int) -> int:  # pragma: no cover
    """Upper bound of the cells :func:`_grid_shape` gives a cloud of ``num_points`` for k."""
    return int(2.0 * max(1.0, num_points / _knn_points_per_cell(k))) + 8


@numba.njit(cache=True)
def _knn_points_per_cell(k: int) -> float:  # pragma: no cover
    """Grid density for k neighbours: about k / 8 points per cell, between 1 and 4."""
    return min(4.0, max(1.0, k / 8.0))


@numba.njit(cache=True)
def _knn_grid_prepare(xyz: np.ndarray, k: int, dims: np.ndarray, sorted_xyz: np.ndarray,
                      sorted_idx: np.ndarray, cell_start: np.ndarray, axis_info: np.ndarray,
                      geom: np.ndarray) -> None:  # pragma: no cover
    """Grid one (N, 3) cloud into the given buffers and its cells per axis into ``dims`` (3,);
    dims = 0 for a cloud with non-finite or huge coordinates (left to the brute-force
    kernel)."""
    if not _finite_bounded(xyz):
        for a in range(3):
            dims[a] = 0
        return
    nx, ny, nz = _grid_shape(xyz, _knn_points_per_cell(k))
    dims[0] = nx
    dims[1] = ny
    dims[2] = nz
    _grid_build(xyz, nx, ny, nz, sorted_xyz, sorted_idx, cell_start, axis_info, geom)


@numba.njit(cache=True)
def _knn_grid_chunk(xyz: np.ndarray, query: np.ndarray, k: int, dims: np.ndarray,
                    sorted_xyz: np.ndarray, sorted_idx: np.ndarray, cell_start: np.ndarray,
                    axis_info: np.ndarray, geom: np.ndarray, q0: int, q1: int,
                    out: np.ndarray) -> None:  # pragma: no cover
    """kNN of queries q0:q1 (of ``query`` (M, 3)) in one gridded cloud into ``out[q0:q1]``."""
    best = np.empty(k, dtype=np.int64)
    scratch = np.empty(64, dtype=np.float32)
    nx, ny, nz = dims[0], dims[1], dims[2]
    for q in range(q0, q1):
        qx, qy, qz = query[q, 0], query[q, 1], query[q, 2]
        if nx > 0 and -1e18 <= qx <= 1e18 and -1e18 <= qy <= 1e18 and -1e18 <= qz <= 1e18:
            _knn_grid_one(sorted_xyz, sorted_idx, cell_start, axis_info, geom, nx, ny, nz, qx,
                          qy, qz, k, best, scratch, out[q])
        else:
            _knn_one(xyz, qx, qy, qz, k, out[q])


@numba.njit(parallel=True, cache=True)
def _knn_grid_parallel(xyz: np.ndarray, query: np.ndarray,
                       k: int) -> np.ndarray:  # pragma: no cover
    batch, n, num_query = xyz.shape[0], xyz.shape[1], query.shape[1]
    cells = _knn_grid_max_cells(n, k)
    dims = np.empty((batch, 3), dtype=np.int64)
    sorted_xyz = np.empty((batch, 3, n), dtype=np.float32)
    sorted_idx = np.empty((batch, n), dtype=np.int64)
    cell_start = np.empty((batch, cells + 1), dtype=np.int64)
    axis_info = np.empty((batch, 3, 4, min(n, cells) + 1), dtype=np.float32)
    geom = np.empty((batch, 2, 3), dtype=np.float64)
    for b in numba.prange(batch):
        _knn_grid_prepare(xyz[b], k, dims[b], sorted_xyz[b], sorted_idx[b], cell_start[b],
                          axis_info[b], geom[b])
    out = np.empty((batch, num_query, k), dtype=np.int64)
    per_cloud = (num_query + _KNN_CHUNK - 1) // _KNN_CHUNK
    for job in numba.prange(batch * per_cloud):
        b = job // per_cloud
        q0 = (job - b * per_cloud) * _KNN_CHUNK
        _knn_grid_chunk(xyz[b], query[b], k, dims[b], sorted_xyz[b], sorted_idx[b],
                        cell_start[b], axis_info[b], geom[b], q0,
                        min(q0 + _KNN_CHUNK, num_query), out[b])
    return out


@numba.njit(cache=True)
def _knn_grid_serial(xyz: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    batch, n, num_query = xyz.shape[0], xyz.shape[1], query.shape[1]
    cells = _knn_grid_max_cells(n, k)
    dims = np.empty(3, dtype=np.int64)
    sorted_xyz = np.empty((3, n), dtype=np.float32)
    sorted_idx = np.empty(n, dtype=np.int64)
    cell_start = np.empty(cells + 1, dtype=np.int64)
    axis_info = np.empty((3, 4, min(n, cells) + 1), dtype=np.float32)
    geom = np.empty((2, 3), dtype=np.float64)
    out = np.empty((batch, num_query, k), dtype=np.int64)
    for b in range(batch):  # one cloud at a time, reusing the buffers
        _knn_grid_prepare(xyz[b], k, dims, sorted_xyz, sorted_idx, cell_start, axis_info, geom)
        _knn_grid_chunk(xyz[b], query[b], k, dims, sorted_xyz, sorted_idx, cell_start,
                        axis_info, geom, 0, num_query, out[b])
    return out


def _in_worker() -> bool:
    return torch.utils.data.get_worker_info() is not None


# Size thresholds of the dispatch (measured on 2 cores, uniform clouds): below them the
# brute-force kernels are as fast or faster (the bucket FPS pays a kd-tree build, the grid kNN
# a grid build and, for k close to N, gains nothing). Every path returns the same indices.
_FPS_BUCKET_MIN_POINTS = 512
_FPS_BUCKET_MIN_SAMPLES = 64
_KNN_GRID_MIN_POINTS = 128


def _use_bucket_fps(num_points: int, num_samples: int) -> bool:
    return num_points >= _FPS_BUCKET_MIN_POINTS and num_samples >= _FPS_BUCKET_MIN_SAMPLES


def _use_grid_knn(num_points: int, k: int) -> bool:
    return num_points >= _KNN_GRID_MIN_POINTS and 4 * k <= num_points


def _fps_numba(xyz: np.ndarray, num_samples: int) -> np.ndarray:
    """FPS of (B, N, 3) float32 clouds -> (B, num_samples) int64: bucket FPS for large clouds,
    brute force for small ones; parallel over clouds except in data-loader workers."""
    serial = _in_worker() or xyz.shape[0] == 1
    if _use_bucket_fps(xyz.shape[1], num_samples):
        return (_fps_bucket_serial if serial else _fps_bucket_parallel)(xyz, num_samples)
    return (_fps_serial if serial else _fps_parallel)(xyz, num_samples)


def _knn_numba(xyz: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """kNN of (B, M, 3) queries in (B, N, 3) float32 clouds -> (B, M, k) int64: grid search for
    large clouds, brute force for small ones or k > N / 4; parallel except in data-loader
    workers."""
    if _use_grid_knn(xyz.shape[1], k):
        return (_knn_grid_serial if _in_worker() else _knn_grid_parallel)(xyz, query, k)
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


def _ball_radius2(radius: float) -> np.float32:
    """``radius ** 2`` as the CUDA kernels compute it: the float32 product of the float32
    radius (not float32(radius ** 2), which differs by one ulp for e.g. radius 0.1)."""
    r = np.float32(radius)
    return np.float32(r * r)


def _ball_torch(xyz: Tensor, query: Tensor, radius: float, k: int, chunk_size: int) -> Tensor:
    """The first ``k`` points (in index order) within ``radius`` of each query, by chunks of
    queries; slots beyond the points found repeat the first one found (0 when none is)."""
    num_points = xyz.shape[1]
    r2 = torch.tensor(_ball_radius2(radius))
    if query.shape[1] == 0:
        return query.new_zeros((query.shape[0], 0, k), dtype=torch.long)
    arange = torch.arange(num_points, device=xyz.device)
    out = []
    for start in range(0, query.shape[1], chunk_size):
        q = query[:, start:start + chunk_size]
        d = ((q.unsqueeze(2) - xyz.unsqueeze(1))**2).sum(-1)
        keyed = torch.where(d < r2.to(d.device), arange, num_points)  # out of the ball -> N
        first = keyed.topk(min(k, num_points), dim=-1, largest=False, sorted=True).values
        if first.shape[-1] < k:
            first = torch.cat([first, first.new_full((*first.shape[:-1], k - first.shape[-1]),
                                                     num_points)], dim=-1)
        head = first[..., :1]
        head = torch.where(head == num_points, torch.zeros_like(head), head)
        out.append(torch.where(first == num_points, head.expand_as(first), first))
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


def ball_query(xyz: Tensor, query: Tensor, radius: float, k: int, backend: str = 'auto',
               chunk_size: int = 256) -> Tensor:
    """Ball query with the semantics of pointnet2 / mmcv's ``ball_query`` (min radius 0).

    For each query the first ``k`` points, in index order, whose squared distance is below
    ``radius ** 2``; when fewer are found the remaining slots repeat the first one found, and a
    query with no point in its ball gets index 0 everywhere (pointnet2's zero-initialised
    output).

    Args:
        xyz: (B, N, 3) the points searched.
        query: (B, M, 3) the ball centres.
        radius: ball radius.
        k: indices per query.
        backend: 'auto', 'torch', 'numba' or 'mmcv' (CUDA).
        chunk_size: queries per chunk on the PyTorch path.

    Returns:
        (B, M, k) long indices into N.
    """
    _check_xyz('xyz', xyz)
    _check_xyz('query', query)
    if xyz.shape[0] != query.shape[0]:
        raise ValueError(f'batch sizes differ: xyz {xyz.shape[0]} vs query {query.shape[0]}')
    if not radius > 0 or k < 1:
        raise ValueError(f'ball_query needs radius > 0 and k >= 1, got {radius} and {k}')
    if xyz.shape[1] == 0:
        raise ValueError('ball_query needs at least one point in xyz (index 0 stands for '
                         '"no point found")')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    backend = _resolve_backend(backend, xyz.device)
    xyz = xyz.detach().float().contiguous()
    query = query.detach().float().contiguous()
    if backend == 'numba':
        r2 = _ball_radius2(radius)
        fn = _ball_serial if _in_worker() else _ball_parallel
        return torch.from_numpy(fn(xyz.numpy(), query.numpy(), r2, int(k)))
    if backend == 'mmcv':
        from mmcv.ops import ball_query as mmcv_ball_query
        return mmcv_ball_query(0.0, float(radius), int(k), xyz, query).long()
    return _ball_torch(xyz, query, float(radius), int(k), chunk_size)


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
