"""Frozen teachers in reduced precision: the error of their features against fp32 and their
forward time, in one run.

Teachers (random weights saved to files, built through their configs as training builds them):
  * ACT stage-2 teacher: ``ConfigModelTeacher`` around the stage-1 ``ACTAutoencoder``
    (``encode_groups``, hard Gumbel) with a ViT-B/16 of ``FrozenViTBlocks``, on 64 x 32 groups
    of demo objects (configs/act_pretrain.py);
  * ``ViTImageTeacher`` ViT-B/16 at 224 (configs/recon_pretrain.py), on rendered demo views;
  * ``CLIPImageTeacher`` and ``CLIPTextTeacher`` ViT-B/32 (configs/recon_clip_pretrain.py), on
    the views and on ReCon prompts of the demo class names.

Variants: fp32 (the reference), bf16 = ``precision='bf16'`` (autocast on the teacher's device:
matrix products in bf16, norms / softmax statistics / residual sums in fp32, fp32 weights
untouched, float32 outputs), fp16 (autocast fp16 forced here for information: FrozenTeacher
refuses fp16 on CPU). Errors per sample against fp32 (each sample's whole output flattened):
cosine similarity (mean, min), relative L2 of the batch. The ACT teacher samples Gumbel noise:
every variant uses the same seed, and the row "fp32, other Gumbel draw" shows how much the
target changes between two fp32 draws anyway. "weight cast s": casting all teacher weights to
bf16 once, which autocast pays on every forward (the alternative design, weights stored in
bf16, would not). Usage:
    python benchmarks/bench_teacher_precision.py [--batch 8] [--repeats 3] [--no-fp16]
"""
import argparse
import os.path as osp
import tempfile
import time
import warnings
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import pt3kd_mm  # noqa: F401
from bench_common import (RANDOM_WEIGHTS_NOTE, act_stage1_files, act_teacher_cfg, demo_batch,
                          machine_line, median, write_random_clip, write_random_vit)
from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers import FrozenTeacher
from pt3kd_mm.ops import group_points

#: the ACT stage-1 modules whose output selects the codes (argmax of Gumbel-perturbed logits)
ACT_FP32 = ('patch_embed', 'dgcnn_1')
#: targets within tolerance: per-sample cosine to fp32 >= MEAN_COS on average, >= MIN_COS each
MEAN_COS, MIN_COS = 0.999, 0.995


def teacher_weights(teacher: FrozenTeacher) -> List[torch.Tensor]:
    """Every weight the teacher computes with, also those of nested teachers (e.g. the ViT
    blocks inside the ACT stage-1 model, which live outside its module tree)."""
    out = []
    for module in teacher.network.modules():
        out.extend(module.parameters(recurse=False))
        if isinstance(module, FrozenTeacher):
            out.extend(teacher_weights(module))
    return out


def compare(out: torch.Tensor, ref: torch.Tensor) -> Dict[str, float]:
    a, b = out.flatten(1).double(), ref.flatten(1).double()
    cos = F.cosine_similarity(a, b, dim=1)
    res = dict(cos_mean=cos.mean().item(), cos_min=cos.min().item(),
               rel_l2=((a - b).norm() / b.norm()).item())
    if out.dim() == 3:  # per token (the ACT loss is a cosine per masked group)
        tok = F.cosine_similarity(out.double(), ref.double(), dim=-1).flatten()
        res.update(tok_min=tok.min().item(), tok_below=(tok < 0.99).double().mean().item())
    return res


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> Tuple[torch.Tensor, float]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, median(times)


def run_variants(name: str, teacher: FrozenTeacher, call: Callable, small: Callable,
                 args, seeded: bool = False, extra: Tuple = ()) -> List[dict]:
    """``call(teacher)``: the forward on the batch; ``small(teacher)``: on one sample
    (warm-up); ``extra``: (label, another teacher, precision) variants. Returns one row per
    variant."""

    def run(precision, fn, seed=123, model=teacher):
        def go():
            if seeded:
                torch.manual_seed(seed)
            if precision == 'fp16-forced':
                with torch.no_grad(), torch.autocast('cpu', dtype=torch.float16):
                    return _plain(fn(model, raw=True))
            model.precision = precision
            return _plain(fn(model))
        return go

    rows = []
    run('fp32', small)()
    ref, t32 = timed(run('fp32', call), args.repeats)
    rows.append(dict(teacher=name, variant='fp32', time=t32, **compare(ref, ref)))
    if seeded:
        other, _ = timed(run('fp32', call, seed=456), 1)
        rows.append(dict(teacher=name, variant='fp32, other Gumbel draw', time=float('nan'),
                         **compare(other, ref)))
    variants = [('bf16', teacher, 'bf16')] + list(extra) + (
        [] if args.no_fp16 else [('fp16 (forced)', teacher, 'fp16-forced')])
    for label, model, precision in variants:
        run(precision, small, model=model)()
        out, t = timed(run(precision, call, model=model), args.slow_repeats)
        assert out.dtype == torch.float32 or precision == 'fp16-forced'
        rows.append(dict(teacher=name, variant=label, time=t, **compare(out.float(), ref)))
    teacher.precision = 'fp32'
    weights = teacher_weights(teacher)
    _, cast = timed(lambda: [w.to(torch.bfloat16) for w in weights], 3)
    for row in rows:
        row.update(weight_cast=cast, params=sum(w.numel() for w in weights))
    return rows


def _plain(out):
    return out['features'] if isinstance(out, dict) else out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3, help='timed fp32 runs (median)')
    parser.add_argument('--slow-repeats', type=int, default=1,
                        help='timed bf16 / fp16 runs (slow where emulated)')
    parser.add_argument('--no-fp16', action='store_true', help='skip the forced fp16 rows')
    parser.add_argument('--only', nargs='*', default=None,
                        help='teachers to run: act vit clip_image clip_text')
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    MMLogger.get_current_instance().setLevel('WARNING')
    warnings.filterwarnings('ignore', message='.*bf16 is emulated.*')
    data = demo_batch(args.batch, seed=0)
    rows = []
    wanted = set(args.only or ['act', 'vit', 'clip_image', 'clip_text'])
    with tempfile.TemporaryDirectory() as tmp:
        if 'act' in wanted:
            files = act_stage1_files(tmp)
            teacher = MODELS.build(act_teacher_cfg(files))
            # the code selection (mini-PointNet -> DGCNN -> logits -> hard Gumbel) in fp32
            code_fp32 = MODELS.build(dict(act_teacher_cfg(files), fp32_modules=ACT_FP32))
            neigh, centers, _, _ = group_points(data['points'], 64, 32)

            def act(t, raw=False, n=None):
                f = t.forward_teacher if raw else t
                return f(neigh[:n], centers[:n], hard=True)
            rows += run_variants('ACT stage-2 teacher (stage 1 + ViT-B/16)', teacher, act,
                                 lambda t, raw=False: act(t, raw, 1), args, seeded=True,
                                 extra=[('bf16, codes in fp32 (*)', code_fp32, 'bf16')])
            del teacher, code_fp32
        if 'vit' in wanted:
            vit = write_random_vit(osp.join(tmp, 'vit_b16_224.pth'), 'vit_base_patch16_224')
            teacher = MODELS.build(dict(type='ViTImageTeacher', checkpoint=vit, source='timm',
                                        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))
            rows += run_variants(
                'ViTImageTeacher ViT-B/16 224', teacher,
                lambda t, raw=False: (t.forward_teacher if raw else t)(data['images']),
                lambda t, raw=False: (t.forward_teacher if raw else t)(data['images'][:1]),
                args)
            del teacher
        if wanted & {'clip_image', 'clip_text'}:
            clip = write_random_clip(osp.join(tmp, 'clip_b32.pth'))
        if 'clip_image' in wanted:
            teacher = MODELS.build(dict(type='CLIPImageTeacher', model_name='ViT-B-32-quickgelu',
                                        checkpoint=clip))
            rows += run_variants(
                'CLIPImageTeacher ViT-B/32', teacher,
                lambda t, raw=False: (t.forward_teacher if raw else t)(data['images']),
                lambda t, raw=False: (t.forward_teacher if raw else t)(data['images'][:1]),
                args)
            del teacher
        if 'clip_text' in wanted:
            teacher = MODELS.build(dict(type='CLIPTextTeacher', model_name='ViT-B-32-quickgelu',
                                        checkpoint=clip))
            rows += run_variants(
                'CLIPTextTeacher ViT-B/32', teacher,
                lambda t, raw=False: (t.forward_teacher if raw else t)(data['texts']),
                lambda t, raw=False: (t.forward_teacher if raw else t)(data['texts'][:1]),
                args)

    print(f'Teacher precision, batch {args.batch} demo objects / views / prompts; fp32 '
          f'median of {args.repeats}, bf16 / fp16 median of {args.slow_repeats}')
    print(machine_line())
    print(RANDOM_WEIGHTS_NOTE)
    print(f'Tolerance: per-sample cosine to fp32 >= {MEAN_COS} mean and >= {MIN_COS} min.')
    head = (f'| {"teacher":<42} | {"variant":<23} | {"fwd s":>7} | {"vs fp32":>7} | '
            f'{"cos mean":>9} | {"cos min":>9} | {"rel L2":>8} | {"token cos min":>13} | '
            f'{"tokens <0.99":>12} | {"ok":>3} |')
    print(head)
    print('|' + '|'.join('-' * len(c) for c in head.split('|')[1:-1]) + '|')
    base = {}
    for r in rows:
        if r['variant'] == 'fp32':
            base[r['teacher']] = r['time']
        ok = r['cos_mean'] >= MEAN_COS and r['cos_min'] >= MIN_COS
        speed = r['time'] / base[r['teacher']]
        tok_min = f'{r["tok_min"]:.4f}' if 'tok_min' in r else '-'
        tok_below = f'{100 * r["tok_below"]:.2f}%' if 'tok_below' in r else '-'
        t = '-' if r['time'] != r['time'] else f'{r["time"]:.3f}'
        vs = '-' if r['time'] != r['time'] else f'{speed:.2f}x'
        print(f'| {r["teacher"]:<42} | {r["variant"]:<23} | {t:>7} | {vs:>7} | '
              f'{r["cos_mean"]:9.6f} | {r["cos_min"]:9.6f} | {r["rel_l2"]:8.2e} | '
              f'{tok_min:>13} | {tok_below:>12} | {"yes" if ok else "NO":>3} |')
    print(f'(*) fp32_modules={ACT_FP32}: the layers that produce the code logits stay in fp32, '
          f'the ViT blocks and the second DGCNN run in bf16.')
    print()
    print('Weight cast to bf16 (paid on every autocast forward):')
    seen = set()
    for r in rows:
        if r['teacher'] not in seen:
            seen.add(r['teacher'])
            print(f'  {r["teacher"]}: {r["params"] / 1e6:.1f} M weights, {r["weight_cast"]:.3f} '
                  f's = {100 * r["weight_cast"] / base[r["teacher"]]:.1f}% of its fp32 forward')


if __name__ == '__main__':
    main()
