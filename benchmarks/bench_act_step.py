"""Time of one ACT stage-2 training step (forward + backward + AdamW) on CPU: a
re-implementation of the reference's order of operations vs pt3kd_mm in fp32, with a bf16
teacher, with ``--amp`` (bf16 autocast of the student) and both; the teacher's share of each
step and each variant's peak memory, in one run. The variants alternate within each round (a
fresh process per variant and round, 2 timed steps each); each variant's fastest step is shown
(best of N, the estimate least disturbed by other load on a shared machine; all parts from
that step).

B clouds of 1024 points, reference sizes (configs/act_pretrain.py): student 12 x 384 with CLS,
mask 0.8, 2-block decoder; teacher = the stage-1 autoencoder (configs/act_autoencoder.py) with a
RANDOM ViT-B/16 (384) as the frozen 2D transformer, saved to temporary files (timing does not
depend on the weights). Variants:
  * reference fp32 (benchmarks/reference_models.py): all groups embedded by the student, the
    teacher's Conv2d DGCNNs, dense one-hot x codebook, ViT blocks with explicit attention, the
    cosine loss in a loop over the clouds;
  * pt3kd_mm fp32: ``ACT`` as configs/act_pretrain.py builds it;
  * bf16 teacher: ``model.teacher.precision='bf16'`` with
    ``fp32_modules=('patch_embed', 'dgcnn_1')`` (the code selection stays fp32, see
    benchmarks/bench_teacher_precision.py);
  * --amp: the student's forward under bf16 autocast as ``tools/train.py --amp`` runs it
    (teacher fp32), and --amp with the bf16 teacher.
"teacher s" is the teacher's forward inside the step (forward hooks). Optionally (--stage1) a
stage-1 step in fp32 for scale. Usage:
    python benchmarks/bench_act_step.py [--batch 32] [--repeats 3] [--slow-repeats 1] [--stage1]
"""
import argparse
import contextlib
import tempfile
import time

import torch

from bench_common import (ForwardTimer, act_stage1_files, act_teacher_cfg, in_fresh_process,
                          interleaved_rounds, machine_line, median, peak_rss_mb)

ACT_FP32 = ('patch_embed', 'dgcnn_1')
# name: (student autocast, teacher precision)
VARIANTS = {
    'reference fp32': (False, 'fp32'),
    'pt3kd_mm fp32': (False, 'fp32'),
    'pt3kd_mm bf16 teacher': (False, 'bf16'),
    'pt3kd_mm --amp': (True, 'fp32'),
    'pt3kd_mm --amp + bf16 teacher': (True, 'bf16'),
}


def build(variant, files):
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from bench_common import REPO
    init_default_scope('mmdet3d')
    MMLogger.get_current_instance().setLevel('WARNING')  # no weight-init reports
    torch.manual_seed(0)
    if variant.startswith('reference'):
        from reference_models import RefACTStage2, RefACTTeacher
        model, teacher = RefACTStage2(), RefACTTeacher()
        teacher.requires_grad_(False)
        teacher.train()  # the reference runs its teacher in train mode
        return model, teacher
    _, precision = VARIANTS[variant]
    cfg = Config.fromfile(f'{REPO}/configs/act_pretrain.py').model
    teacher_cfg = act_teacher_cfg(files, precision)
    if precision != 'fp32':
        teacher_cfg['fp32_modules'] = ACT_FP32
    cfg.teacher = teacher_cfg
    model = MODELS.build(cfg)
    model.init_weights()
    return model, model.teachers['stage1']


def run_step(variant, model, teacher, wrapper, points, times):
    from pt3kd_mm.models.utils import random_group_mask
    from pt3kd_mm.ops import group_points
    t0 = time.perf_counter()
    context = wrapper.optim_context(model) if wrapper is not None else contextlib.nullcontext()
    with context:
        if variant.startswith('reference'):
            neigh, centers, _, _ = group_points(points, 64, 32)
            mask = random_group_mask(points.shape[0], 64, 0.8)
            loss = model(neigh, centers, mask, teacher)
        else:
            loss = sum(model(dict(points=points), mode='loss').values())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    t1 = time.perf_counter()
    model._opt.zero_grad()
    loss.backward()
    t2 = time.perf_counter()
    model._opt.step()
    t3 = time.perf_counter()
    if times is not None:
        for key, value in (('forward', t1 - t0), ('backward', t2 - t1), ('AdamW step', t3 - t2),
                           ('total', t3 - t0), ('teacher', model._timer.pop())):
            times.setdefault(key, []).append(value)
    else:
        model._timer.pop()


def measure(variant, files, batch, steps):
    from pt3kd_mm.engine import DeviceAgnosticAmpOptimWrapper
    model, teacher = build(variant, files)
    model.train()
    model._opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                                   weight_decay=0.05)
    model._timer = ForwardTimer(teacher)
    amp, _ = VARIANTS[variant]
    wrapper = DeviceAgnosticAmpOptimWrapper(optimizer=model._opt) if amp else None
    points = torch.rand(batch, 1024, 3)
    run_step(variant, model, teacher, wrapper, points[:2], None)  # warm-up (kernels, caches)
    runs = []
    for _ in range(steps):
        times = {}
        run_step(variant, model, teacher, wrapper, points, times)
        runs.append({k: v[0] for k, v in times.items()})
    return runs, peak_rss_mb()


def measure_stage1(files, batch, repeats):
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from bench_common import REPO
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    cfg = Config.fromfile(f'{REPO}/configs/act_autoencoder.py').model
    cfg.vit_blocks.checkpoint = files['vit']
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    points = torch.rand(batch, 1024, 3)
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        loss = sum(model(dict(points=points if i else points[:2]), mode='loss').values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return dict(total=median(times), peak=peak_rss_mb())


def main():
    from pt3kd_mm.utils.precision import cpu_has_native_bf16
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3,
                        help='rounds of fresh processes, 2 timed steps each (best of)')
    parser.add_argument('--slow-repeats', type=int, default=1,
                        help='rounds of variants that use bf16 on a CPU that emulates it')
    parser.add_argument('--variants', nargs='*', default=list(VARIANTS))
    parser.add_argument('--stage1', action='store_true', help='also time a stage-1 step')
    args = parser.parse_args()
    slow = not cpu_has_native_bf16()
    with tempfile.TemporaryDirectory() as tmp:
        files = act_stage1_files(tmp)
        res = interleaved_rounds(
            measure, args.variants, args.repeats, args.slow_repeats,
            lambda v: slow and (VARIANTS[v][0] or VARIANTS[v][1] != 'fp32'), files, args.batch)
        stage1 = in_fresh_process(measure_stage1, files, args.batch, args.repeats) \
            if args.stage1 else None
    ref = res.get('reference fp32')
    print(f'ACT stage-2 step, B={args.batch}, 1024 points, student 12x384 + CLS (mask 0.8, '
          f'2-block decoder), teacher = stage 1 + RANDOM ViT-B/16 (384); best of 2 steps x '
          f'{args.repeats} rounds ({args.slow_repeats} for variants with emulated bf16, 1 step); '
          f'a fresh process per variant and round, variants interleaved')
    print(machine_line())
    head = (f'| {"variant":<30} | {"step s":>7} | {"vs ref":>6} | {"forward s":>9} | '
            f'{"teacher s":>9} | {"teacher share":>13} | {"backward s":>10} | '
            f'{"AdamW s":>7} | {"peak RSS MB":>11} | {"steps (spread)":>14} |')
    print(head)
    print('|' + '|'.join('-' * len(c) for c in head.split('|')[1:-1]) + '|')
    for variant, r in res.items():
        vs = f'{r["total"] / ref["total"]:.2f}' if ref else '-'
        print(f'| {variant:<30} | {r["total"]:7.2f} | {vs:>6} | {r["forward"]:9.2f} | '
              f'{r["teacher"]:9.2f} | {100 * r["teacher"] / r["total"]:12.0f}% | '
              f'{r["backward"]:10.2f} | {r["AdamW step"]:7.3f} | {r["peak RSS MB"]:11.0f} | '
              f'{r["steps"]:>6} ({r["spread"]:.2f}x) |')
    if stage1:
        print(f'ACT stage 1 (dVAE + frozen ViT-B/16, 64 prompts), fp32: {stage1["total"]:.2f} s '
              f'per step, peak RSS {stage1["peak"]:.0f} MB')


if __name__ == '__main__':
    main()
