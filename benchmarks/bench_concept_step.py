"""Time of one concept-distillation training step (forward + backward + AdamW) on CPU, against
one Point-MAE step of the same encoder, in one run. The variants alternate within each round (a
fresh process per variant and round, 2 timed steps each); each variant's fastest step is shown
(best of N, the estimate least disturbed by other load on a shared machine; all parts from that
step).

All: B demo objects of 4096 points, 64 groups x 32, 12 x 384 encoder (6 heads), drop path 0.1,
AdamW (lr 1e-3, wd 0.05). Variants:
  * Point-MAE: mask 0.6, 4-block decoder, Chamfer-L2 (configs/point_mae_pretrain.py sizes);
  * concept (cached): ``ConceptDistill`` as the seed paper: 32 concept queries, one shared
    decoder layer read after each of the 12 encoder layers, 2-layer MLP head (hidden 1024) to
    the (10, 768) prefix, MSE; targets from a feature cache (random rows): no teacher runs;
  * concept + rec (cached): the same plus Point-MAE's masked reconstruction (mask 0.6, the
    encoder sees the visible groups only);
  * concept + ClipCap teacher: the teacher runs every step: a CLIP ViT-B/32 image tower
    (precision 'auto') + ClipCap MLP mapper, both with RANDOM weights (timing does not depend
    on the weights), on the rendered 224 px views.
"teacher" is the teacher's forward inside the step (forward hooks). Usage:
    python benchmarks/bench_concept_step.py [--batch 8] [--repeats 2] [--threads 1]
"""
import argparse
import os.path as osp
import tempfile
import time
import warnings

import torch

from bench_common import (ForwardTimer, demo_batch, interleaved_rounds, machine_line,
                          peak_rss_mb, write_random_clip)

VARIANTS = ('Point-MAE', 'concept (cached)', 'concept + rec (cached)',
            'concept + ClipCap teacher')
PARTS = ('forward', 'teacher', 'backward', 'AdamW step', 'total')
NUM_POINTS = 4096
BACKBONE = dict(type='PointPatchTransformer', embed_dims=384, depth=12, num_heads=6,
                num_groups=64, group_size=32)
PREFIX = (10, 768)


def clipcap_available() -> bool:
    """Whether the ClipCap teacher (another part of the code base) is importable."""
    try:
        from pt3kd_mm.models.teachers import ClipCapPrefixTeacher  # noqa: F401
        from pt3kd_mm.testing.random_clipcap import write_random_clipcap  # noqa: F401
    except ImportError:
        return False
    return True


def model_cfg(variant: str, tmp: str) -> dict:
    """The model config of ``variant`` (teacher files written into ``tmp``)."""
    if variant == 'Point-MAE':
        return dict(type='PointMAE', backbone=BACKBONE, neck=dict(type='PointMAEDecoder'),
                    head=dict(type='PointReconstructionHead'), mask_ratio=0.6)
    cfg = dict(type='ConceptDistill', backbone=BACKBONE,
               neck=dict(type='ConceptQueryDecoder', num_heads=6, num_queries=32),
               head=dict(type='PrefixAlignHead', target_shape=PREFIX, hidden_dims=1024))
    if 'rec' in variant:
        cfg.update(reconstruction=dict(neck=dict(type='PointMAEDecoder'),
                                       head=dict(type='PointReconstructionHead')),
                   mask_ratio=0.6)
    if 'ClipCap' in variant:
        from pt3kd_mm.testing.random_clipcap import write_random_clipcap
        clip = write_random_clip(osp.join(tmp, 'clip_vit_b32.pth'))
        clipcap = osp.join(tmp, 'clipcap_mlp.pt')
        write_random_clipcap(clipcap, 'mlp')
        cfg['img_teacher'] = dict(
            type='ClipCapPrefixTeacher', checkpoint=clipcap, mapping_type='mlp',
            prefix_length=PREFIX[0],
            clip=dict(type='CLIPImageTeacher', model_name='ViT-B-32-quickgelu',
                      checkpoint=clip))
    return cfg


def inputs_of(variant: str, batch: dict, size: int):
    """(inputs, data_samples) of ``size`` clouds: cached random targets unless the teacher
    runs."""
    import numpy as np
    from mmdet3d.structures import Det3DDataSample
    inputs = dict(points=batch['points'][:size])
    samples = []
    rng = np.random.default_rng(0)
    for _ in range(size):
        sample = Det3DDataSample()
        if 'cached' in variant:
            sample.set_metainfo(dict(
                img_target=rng.standard_normal(int(np.prod(PREFIX))).astype(np.float32),
                img_target_cache='bench'))
        samples.append(sample)
    if 'ClipCap' in variant:
        inputs['img'] = batch['images'][:size]
    return inputs, samples


def step(model, inputs, samples, timer, timings) -> None:
    """One training step, its parts' wall times appended to ``timings``."""
    t0 = time.perf_counter()
    losses = model(inputs, samples, mode='loss')
    loss = sum(losses.values())
    timings['forward'] = time.perf_counter() - t0
    timings['teacher'] = timer.pop() if timer is not None else 0.0
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    t = time.perf_counter()
    model._opt.zero_grad()
    loss.backward()
    timings['backward'] = time.perf_counter() - t
    t = time.perf_counter()
    model._opt.step()
    timings['AdamW step'] = time.perf_counter() - t
    timings['total'] = time.perf_counter() - t0


def measure(variant: str, batch_size: int, threads: int, steps: int):
    """``steps`` steps of ``variant`` in this (fresh) process with ``threads`` torch threads (0:
    torch's default) after a warm-up step on 2 clouds (which also builds a lazy teacher):
    ([parts of each step], peak RSS MB)."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance('bench_concept_step', log_level='WARNING')  # no init_weights log
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    if threads:
        torch.set_num_threads(threads)
    warnings.filterwarnings('ignore', message='.*cannot be checked')
    batch = demo_batch(batch_size, NUM_POINTS, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = MODELS.build(model_cfg(variant, tmp))
        model.init_weights()
        model.train()
        model._opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        step(model, *inputs_of(variant, batch, 2), None, {})  # warm-up (kernels, numba, teacher)
        timer = ForwardTimer(model.teachers['img']) if 'ClipCap' in variant else None
        runs = []
        for _ in range(steps):
            timings = {}
            step(model, *inputs_of(variant, batch, batch_size), timer, timings)
            runs.append(timings)
        runs[0]['params M'] = sum(p.numel() for p in model.parameters()) / 1e6
        for run in runs[1:]:
            run['params M'] = runs[0]['params M']
    return runs, peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=2,
                        help='rounds of fresh processes, 2 timed steps each (best of)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads per process (0: torch\'s default); 1 avoids the '
                        'stalls of oversubscribed OpenMP threads on a machine shared with '
                        'other jobs')
    parser.add_argument('--variants', nargs='*', default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    variants = [v for v in VARIANTS if v in args.variants]
    if 'concept + ClipCap teacher' in variants and not clipcap_available():
        print('ClipCapPrefixTeacher not available: the teacher variant is left out')
        variants.remove('concept + ClipCap teacher')
    res = interleaved_rounds(measure, variants, args.repeats, 0, lambda v: False, args.batch,
                             args.threads)
    ref = res.get('Point-MAE')
    steps = ', '.join(f'{v}: {res[v]["steps"]} (slowest/fastest {res[v]["spread"]:.2f})'
                      for v in variants)
    print(f'Concept distillation step vs Point-MAE, B={args.batch}, {NUM_POINTS} points, 64x32 '
          f'groups, 12x384x6 encoder, fp32; best of N steps ({steps}) over {args.repeats} '
          f'rounds of fresh processes, variants interleaved')
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    print('| variant | ms / step | ratio to Point-MAE | forward ms (teacher ms) | backward ms | '
          'AdamW ms | trainable params M | peak RSS MB |')
    print('|---|---|---|---|---|---|---|---|')
    for v in variants:
        r = res[v]
        ratio = f'{r["total"] / ref["total"]:.2f}' if ref else '-'
        print(f'| {v} | {1e3 * r["total"]:.0f} | {ratio} | {1e3 * r["forward"]:.0f} '
              f'({1e3 * r["teacher"]:.0f}) | {1e3 * r["backward"]:.0f} | '
              f'{1e3 * r["AdamW step"]:.0f} | {r["params M"]:.1f} | {r["peak RSS MB"]:.0f} |')


if __name__ == '__main__':
    main()
