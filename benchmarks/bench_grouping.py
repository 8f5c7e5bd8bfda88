"""Grouping speed and memory: FPS + kNN for B clouds of N points into G groups of K.

Compares, in one run:
  * reference fallback: the pure-PyTorch path of the reference repos (an iterative FPS loop
    over the G steps; kNN by cdist + topk over the whole (B, G, N) distance matrix);
  * pt3kd_mm: ``farthest_point_sample`` / ``knn_query`` with the default CPU backend (numba);
  * fpsample (peer library, FPS only): exact ``fps_sampling`` and ``bucket_fps_kdline_sampling``
    (h=7), one cloud at a time as the library works.

Each measurement runs in a fresh process; "extra peak MB" is the rise of the process's peak
resident memory during the op (inputs excluded). Usage:
    python benchmarks/bench_grouping.py [--batch 32] [--points 8192] [--groups 512] [--k 32]
"""
import argparse
import multiprocessing as mp
import resource
import time

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


def _job(name, args, queue):
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    xyz = torch.rand(args.batch, args.points, 3)
    from pt3kd_mm.models.layers import farthest_point_sample, gather_points, knn_query
    centers = gather_points(xyz, farthest_point_sample(xyz, args.groups))
    if name == 'ours_fps':
        fn = lambda: farthest_point_sample(xyz, args.groups)  # noqa: E731
        farthest_point_sample(xyz[:1, :256], 8)  # compile / load the jit cache
    elif name == 'ours_knn':
        fn = lambda: knn_query(xyz, centers, args.k)  # noqa: E731
        knn_query(xyz[:1, :256], centers[:1, :8], 4)
    elif name == 'ref_fps':
        fn = lambda: ref_fps(xyz, args.groups)  # noqa: E731
    elif name == 'ref_knn':
        fn = lambda: ref_knn(xyz, centers, args.k)  # noqa: E731
    else:
        import fpsample
        pcs = xyz.numpy()
        if name == 'fpsample_fps':
            fn = lambda: [fpsample.fps_sampling(p, args.groups, start_idx=0)  # noqa: E731
                          for p in pcs]
        else:
            fn = lambda: [fpsample.bucket_fps_kdline_sampling(p, args.groups, h=7,  # noqa
                                                              start_idx=0) for p in pcs]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((float(np.median(times)), (peak - before) / 1024))


def measure(name, args):
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    p = ctx.Process(target=_job, args=(name, args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--points', type=int, default=8192)
    parser.add_argument('--groups', type=int, default=512)
    parser.add_argument('--k', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    r = {n: measure(n, args) for n in ('ref_fps', 'ref_knn', 'ours_fps', 'ours_knn',
                                       'fpsample_fps', 'fpsample_kdline')}
    print(f'Grouping B={args.batch} N={args.points} -> {args.groups} groups x {args.k}, '
          f'{args.threads} threads, median of {args.repeats}')
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
    for name, key in (('fpsample fps_sampling', 'fpsample_fps'),
                      ('fpsample bucket kdline h=7', 'fpsample_kdline')):
        t = r[key][0]
        print(f'| {name:<44} | {t:7.3f} | {"-":>7} | {"-":>8} | {"-":>17} | '
              f'{"FPS " + format(r["ref_fps"][0] / t, ".1f") + "x":>15} |')


if __name__ == '__main__':
    main()
