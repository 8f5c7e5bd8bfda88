"""Grouping speed and memory: FPS + kNN for B clouds of N points into G groups of K.

Compares, in one run:
  * reference fallback: the pure-PyTorch path of the reference repos (an iterative FPS loop
    over the G steps; kNN by cdist + topk over the whole (B, G, N) distance matrix);
  * pt3kd_mm: ``farthest_point_sample`` / ``knn_query`` with the default CPU backend (numba:
    bucket FPS and grid kNN at these sizes, exact);
  * fpsample (peer library, FPS only): exact ``fps_sampling`` and ``bucket_fps_kdline_sampling``
    (h=7, and the heights of --fpsample-heights), one cloud at a time as the library works.

Two tables: the object-size setting (--batch/--points/--groups/--k, uniform clouds in the unit
cube) and a scene-size one (--scene-*, detection-size inputs: a synthetic 8 x 6 x 3 m room of
points on surfaces, floor and walls and boxes). Each measurement runs in a fresh process with
--threads threads for PyTorch and numba; "extra peak MB" is the rise of the process's peak
resident memory during the op (inputs excluded). Usage:
    python benchmarks/bench_grouping.py [--batch 32] [--points 8192] [--groups 512] [--k 32]
        [--scene-batch 8] [--scene-points 40000] [--scene-groups 2048] [--scene-k 64]
        [--no-scene] [--no-object] [--fpsample-heights 5 7 9] [--repeats 3] [--threads N]
"""
import argparse
import multiprocessing as mp
import os
import resource
import time
from types import SimpleNamespace

import numpy as np
import torch


def ref_fps(xyz, m):
    """The PointNet++ PyTorch fallback the reference repos ship (masked in-place update),
    started at point 0 instead of a random point."""
    b, n, _ = xyz.shape
    idx = torch.zeros(b, m, dtype=torch.long)
    dist = torch.ones(b, n) * 1e10
    far = torch.zeros(b, dtype=torch.long)
    ar = torch.arange(b)
    for i in range(m):
        idx[:, i] = far
        c = xyz[ar, far, :].view(b, 1, 3)
        d = torch.sum((xyz - c)**2, -1)
        mask = d < dist
        dist[mask] = d[mask]
        far = torch.max(dist, -1)[1]
    return idx


def ref_knn(xyz, centers, k):
    return torch.cdist(centers, xyz).topk(k, dim=-1, largest=False).indices


def room(batch, points, seed=0):
    """(batch, points, 3) synthetic scenes: half the points on a 8 x 6 m floor, a quarter on a
    3 m wall, a quarter on ten boxes, shuffled."""
    rng = np.random.default_rng(seed)
    out = np.empty((batch, points, 3), dtype=np.float32)
    n1, n2 = points // 2, points // 4
    n3 = points - n1 - n2
    for b in range(batch):
        floor = np.c_[rng.random(n1) * 8, rng.random(n1) * 6, rng.normal(0, 0.01, n1)]
        wall = np.c_[rng.random(n2) * 8, 6 + rng.normal(0, 0.01, n2), rng.random(n2) * 3]
        centres = rng.random((10, 3)) * [8, 6, 1]
        boxes = centres[rng.integers(0, 10, n3)] + rng.random((n3, 3)) * 0.6
        out[b] = np.concatenate([floor, wall, boxes])[rng.permutation(points)]
    return torch.from_numpy(out)


def _job(name, cfg, xyz, centers, queue):
    torch.set_num_threads(cfg.threads)
    xyz, centers = torch.from_numpy(xyz), torch.from_numpy(centers)
    if name == 'ours_fps':
        from pt3kd_mm.ops import farthest_point_sample
        fn = lambda: farthest_point_sample(xyz, cfg.groups)  # noqa: E731
        # compile / load the jit cache of the path these sizes take (two clouds: the batch
        # driver; small, so the peak memory of the real call still shows)
        farthest_point_sample(xyz[:2], cfg.groups)
    elif name == 'ours_knn':
        from pt3kd_mm.ops import knn_query
        fn = lambda: knn_query(xyz, centers, cfg.k)  # noqa: E731
        knn_query(xyz[:2], centers[:2], cfg.k)
    elif name == 'ref_fps':
        fn = lambda: ref_fps(xyz, cfg.groups)  # noqa: E731
    elif name == 'ref_knn':
        fn = lambda: ref_knn(xyz, centers, cfg.k)  # noqa: E731
    else:
        import fpsample
        pcs = xyz.numpy()
        if name == 'fpsample_fps':
            fn = lambda: [fpsample.fps_sampling(p, cfg.groups, start_idx=0)  # noqa: E731
                          for p in pcs]
        else:
            h = int(name.rsplit('_h', 1)[1])
            fn = lambda: [fpsample.bucket_fps_kdline_sampling(p, cfg.groups, h=h,  # noqa
                                                              start_idx=0) for p in pcs]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(cfg.repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((float(np.median(times)), (peak - before) / 1024))


def _prepare(cfg, queue):
    torch.manual_seed(0)
    if cfg.kind == 'room':
        xyz = room(cfg.batch, cfg.points)
    else:
        xyz = torch.rand(cfg.batch, cfg.points, 3)
    from pt3kd_mm.ops import farthest_point_sample, gather_points
    centers = gather_points(xyz, farthest_point_sample(xyz, cfg.groups))
    queue.put((xyz.numpy(), centers.numpy()))


def _inputs(cfg):
    """The clouds and their FPS centres as numpy arrays, made in a child process: importing
    pt3kd_mm (OpenCV, mmengine) changes environment variables that spawned children inherit."""
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    p = ctx.Process(target=_prepare, args=(cfg, q))
    p.start()
    res = q.get()
    p.join()
    return res


def measure(name, cfg, xyz, centers):
    """Run one method in a fresh process (numba and PyTorch limited to cfg.threads threads)."""
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    p = ctx.Process(target=_job, args=(name, cfg, xyz, centers, q))
    env = {'NUMBA_NUM_THREADS': str(cfg.threads), 'OMP_NUM_THREADS': str(cfg.threads)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # inherited by the child at start
    try:
        p.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
    res = q.get()
    p.join()
    return res


def table(cfg, heights):
    """Measure every method for one setting and print its markdown table."""
    names = ['ref_fps', 'ref_knn', 'ours_fps', 'ours_knn', 'fpsample_fps']
    names += [f'fpsample_kdline_h{h}' for h in heights]
    xyz, centers = _inputs(cfg)
    r = {n: measure(n, cfg, xyz, centers) for n in names}
    what = 'room scenes' if cfg.kind == 'room' else 'uniform clouds'
    print(f'{cfg.title}: B={cfg.batch} {what} of N={cfg.points} -> {cfg.groups} groups x '
          f'{cfg.k}, {cfg.threads} threads, median of {cfg.repeats}')
    print()
    print(f'| {"method":<44} | {"FPS s":>7} | {"kNN s":>7} | {"total s":>8} | '
          f'{"kNN extra peak MB":>17} | {"speed-up vs ref":>15} |')
    print('|' + '|'.join('-' * w for w in (46, 9, 9, 10, 19, 17)) + '|')
    ref_total = r['ref_fps'][0] + r['ref_knn'][0]
    rows = [('reference fallback (torch loop + cdist/topk)', r['ref_fps'], r['ref_knn']),
            ('pt3kd_mm (numba)', r['ours_fps'], r['ours_knn'])]
    for name, fps, knn in rows:
        total = fps[0] + knn[0]
        print(f'| {name:<44} | {fps[0]:7.3f} | {knn[0]:7.3f} | {total:8.3f} | '
              f'{knn[1]:17.0f} | {ref_total / total:14.1f}x |')
    fpsample_rows = [('fpsample fps_sampling', 'fpsample_fps')]
    fpsample_rows += [(f'fpsample bucket kdline h={h}', f'fpsample_kdline_h{h}') for h in heights]
    for name, key in fpsample_rows:
        t = r[key][0]
        print(f'| {name:<44} | {t:7.3f} | {"-":>7} | {"-":>8} | {"-":>17} | '
              f'{"FPS " + format(r["ref_fps"][0] / t, ".1f") + "x":>15} |')
    print()
    ours = r['ours_fps'][0]
    best_h = min(heights, key=lambda h: r[f'fpsample_kdline_h{h}'][0])
    for h in sorted({7, best_h} & set(heights)):
        t = r[f'fpsample_kdline_h{h}'][0]
        print(f'FPS: pt3kd_mm {ours:.3f} s vs fpsample kdline h={h} {t:.3f} s '
              f'({t / ours:.2f}x)' + (' (fastest fpsample height)' if h == best_h else ''))
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--points', type=int, default=8192)
    parser.add_argument('--groups', type=int, default=512)
    parser.add_argument('--k', type=int, default=32)
    parser.add_argument('--scene-batch', type=int, default=8)
    parser.add_argument('--scene-points', type=int, default=40000)
    parser.add_argument('--scene-groups', type=int, default=2048)
    parser.add_argument('--scene-k', type=int, default=64)
    parser.add_argument('--no-scene', action='store_true', help='skip the scene-size table')
    parser.add_argument('--no-object', action='store_true', help='skip the object-size table')
    parser.add_argument('--fpsample-heights', type=int, nargs='+', default=[5, 7, 9],
                        help='kd-tree heights h of fpsample.bucket_fps_kdline_sampling (7 is '
                        'always included)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    heights = sorted(set(args.fpsample_heights) | {7})
    common = dict(repeats=args.repeats, threads=args.threads)
    if not args.no_object:
        table(SimpleNamespace(title='Object size', kind='uniform', batch=args.batch,
                              points=args.points, groups=args.groups, k=args.k, **common),
              [h for h in heights if 2**h <= args.points])
    if not args.no_scene:
        table(SimpleNamespace(title='Scene size', kind='room', batch=args.scene_batch,
                              points=args.scene_points, groups=args.scene_groups,
                              k=args.scene_k, **common),
              [h for h in heights if 2**h <= args.scene_points])


if __name__ == '__main__':
    main()
