"""Time of one Point-MAE training step (forward + backward + AdamW) on CPU, ours vs a
re-implementation of the reference's order of operations, in one run, with a per-stage
breakdown and the peak memory of each variant. Every timed step runs in a fresh process and the
variants alternate within each round (a fresh process per variant and round, 2 timed steps
each); each variant's fastest step is shown (best of N, the estimate least disturbed by other
load on a shared machine; all stages from that same step).

All: B clouds of 1024 points, 64 groups x 32, 12 x 384 encoder (6 heads), 4-block decoder,
mask ratio 0.6, Chamfer-L2 on masked groups, the same grouping (numba) and loss. Variants:
  * reference (fp32): mini-PointNet (Conv1d) over ALL 64 groups, then the masked tokens are
    dropped; the 512 -> 512 layer runs on the concatenated [point, pooled] features of every
    point; attention as explicit softmax(q k^T) v (benchmarks/reference_models.py);
  * pt3kd_mm fp32: the default config embeds all groups as the reference
    (``backbone.embed_all_groups=True``); "visible-only" times the faster option that embeds
    only the visible groups (``embed_all_groups=False``); the pooled half of the 512 -> 512
    layer runs once per group; attention via F.scaled_dot_product_attention (mmpretrain's
    layer);
  * pt3kd_mm --amp: the same under bf16 autocast, exactly as ``tools/train.py --amp`` runs it
    (``DeviceAgnosticAmpOptimWrapper.optim_context`` around the forward; backward and AdamW
    outside, on fp32 weights).
"peak RSS" is the process's peak resident memory (model, optimiser state, activations).
Usage: python benchmarks/bench_point_mae_step.py [--batch 32] [--repeats 3] [--slow-repeats 1]
"""
import argparse
import contextlib
import time
from collections import defaultdict

import torch

from bench_common import interleaved_rounds, machine_line, peak_rss_mb

VARIANTS = ('reference fp32', 'pt3kd_mm fp32', 'pt3kd_mm fp32 visible-only',
            'pt3kd_mm --amp (bf16)')
STAGES = ['grouping + mask', 'patch embed', 'encoder', 'decoder', 'head + loss', 'backward',
          'AdamW step', 'total']


def ours_stages(model, neigh, centers, mask):
    """``PointMAE.loss`` split at its stages (the same calls as ``masked_forward``)."""
    bb = model.backbone
    b, _, k, _ = neigh.shape
    yield 'patch embed'
    if bb.embed_all_groups:
        tokens = bb.patch_embed(neigh)
        tokens = tokens[~mask].reshape(b, -1, tokens.shape[-1])
    else:
        tokens = bb.patch_embed(neigh[~mask].reshape(b, -1, k, 3))
    yield 'encoder'
    x, _ = bb.encode(tokens, centers[~mask].reshape(b, -1, 3))
    yield 'decoder'
    x = model.neck(x, centers, mask)
    yield 'head + loss'
    target = neigh[mask].reshape(b, -1, k, 3)
    model.loss_value = model.head.loss(x, target)


def step(variant, model, wrapper, points, timings):
    from pt3kd_mm.models.utils import random_group_mask
    from pt3kd_mm.ops import group_points
    t0 = time.perf_counter()
    neigh, centers, _, _ = group_points(points, 64, 32)
    mask = random_group_mask(points.shape[0], 64, 0.6)
    timings['grouping + mask'].append(time.perf_counter() - t0)
    context = wrapper.optim_context(model) if wrapper is not None else contextlib.nullcontext()
    with context:
        gen = model.stages(neigh, centers, mask) if variant.startswith('reference') else \
            ours_stages(model, neigh, centers, mask)
        stage, t = next(gen), time.perf_counter()
        for nxt in gen:
            now = time.perf_counter()
            timings[stage].append(now - t)
            stage, t = nxt, now
        now = time.perf_counter()
        timings[stage].append(now - t)
    loss = model.loss if variant.startswith('reference') else model.loss_value
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    t = time.perf_counter()
    model._opt.zero_grad()
    loss.backward()
    timings['backward'].append(time.perf_counter() - t)
    t = time.perf_counter()
    model._opt.step()
    timings['AdamW step'].append(time.perf_counter() - t)
    timings['total'].append(time.perf_counter() - t0)


def measure(variant, batch, steps):
    """``steps`` steps of ``variant`` in this (fresh) process after a warm-up step on 2 clouds:
    ([stage times of each step], peak RSS MB)."""
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    from pt3kd_mm.engine import DeviceAgnosticAmpOptimWrapper
    from reference_models import RefPointMAE
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    if variant.startswith('reference'):
        model = RefPointMAE()
    else:
        model = MODELS.build(dict(
            type='PointMAE',
            backbone=dict(type='PointPatchTransformer',
                          embed_all_groups='visible-only' not in variant),
            neck=dict(type='PointMAEDecoder'), head=dict(type='PointReconstructionHead')))
    model.train()
    model._opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    wrapper = DeviceAgnosticAmpOptimWrapper(optimizer=model._opt) if 'amp' in variant else None
    points = torch.rand(batch, 1024, 3)
    step(variant, model, wrapper, points[:2], defaultdict(list))  # warm-up (kernels, jit)
    runs = []
    for _ in range(steps):
        timings = defaultdict(list)
        step(variant, model, wrapper, points, timings)
        runs.append({k: v[0] for k, v in timings.items()})
    return runs, peak_rss_mb()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3,
                        help='rounds of fresh processes, 2 timed steps each (best of)')
    parser.add_argument('--slow-repeats', type=int, default=1,
                        help='rounds of variants that use bf16 on a CPU that emulates it')
    parser.add_argument('--variants', nargs='*', default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    from pt3kd_mm.utils.precision import cpu_has_native_bf16
    variants = [v for v in VARIANTS if v in args.variants]
    res = interleaved_rounds(measure, variants, args.repeats, args.slow_repeats,
                             lambda v: 'amp' in v and not cpu_has_native_bf16(), args.batch)
    ref = res.get(VARIANTS[0])
    variants = [v for v in variants if v in res]  # slow variants with --slow-repeats 0 left out
    steps = ', '.join(f'{v}: {res[v]["steps"]} (slowest/fastest {res[v]["spread"]:.2f})'
                      for v in variants)
    print(f'Point-MAE step, B={args.batch}, 1024 points, 64x32 groups, 12x384 encoder, '
          f'4-block decoder; best of N steps ({steps}) over {args.repeats} rounds of fresh '
          f'processes, variants interleaved')
    print(machine_line())
    head = f'| {"stage":<16} | ' + ' | '.join(f'{v:>21} | {"ratio":>5}' for v in variants) + ' |'
    print(head)
    print('|' + '|'.join('-' * len(c) for c in head.split('|')[1:-1]) + '|')
    rows = STAGES + ['peak RSS MB']
    for k in rows:
        cells = ' | '.join(
            f'{res[v][k]:18.3f} {"s " if k in STAGES else "MB"} | '
            + (f'{res[v][k] / ref[k]:5.2f}' if ref else f'{"-":>5}') for v in variants)
        print(f'| {k if k in STAGES else "peak RSS":<16} | {cells} |')


if __name__ == '__main__':
    main()
