"""Time of one ReCon training step with online teachers (forward incl. both teachers +
backward + AdamW) on CPU: a re-implementation of the reference's order of operations vs
pt3kd_mm in fp32, with bf16 teachers, with ``--amp`` (bf16 autocast of the student) and both;
the teachers' share of each step and each variant's peak memory, in one run. The variants
alternate within each round (a fresh process per variant and round, 2 timed steps each); each
variant's fastest step is shown (best of N, the estimate least disturbed by other load on a
shared machine; all parts from that step).

B demo objects (1024 points, their rendered 224 px views, a ReCon prompt of the class name),
reference sizes (configs/recon_pretrain.py): student 12 x 384 with cls / img / text queries,
mask 0.6, 4-block decoder; image teacher ViT-B/16 at 224, text teacher CLIP ViT-B/32 text tower,
both with RANDOM weights saved to temporary files (timing does not depend on the weights).
Variants:
  * reference fp32 (benchmarks/reference_models.py, qizekun/ReCon's order): all groups embedded,
    queries inside every block with explicit attention, the teachers (timm ViT with explicit
    attention; CLIP text tower, tokenised in the step) every step in fp32;
  * pt3kd_mm fp32: ``ReCon`` as configs/recon_pretrain.py builds it, online teachers;
  * bf16 teachers: ``precision='bf16'`` for both teachers;
  * --amp: the student's forward under bf16 autocast as ``tools/train.py --amp`` runs it
    (teachers fp32), and --amp with bf16 teachers.
"teachers s" is the teachers' forward inside the step (forward hooks). Usage:
    python benchmarks/bench_recon_step.py [--batch 32] [--repeats 3] [--slow-repeats 1]
"""
import argparse
import contextlib
import os.path as osp
import tempfile
import time

import torch
from torch import nn

from bench_common import (ForwardTimer, demo_batch, interleaved_rounds, machine_line,
                          peak_rss_mb, write_random_clip, write_random_vit)

# name: (student autocast, teacher precision)
VARIANTS = {
    'reference fp32': (False, 'fp32'),
    'pt3kd_mm fp32': (False, 'fp32'),
    'pt3kd_mm bf16 teachers': (False, 'bf16'),
    'pt3kd_mm --amp': (True, 'fp32'),
    'pt3kd_mm --amp + bf16 teachers': (True, 'bf16'),
}


class RefImageTeacher(nn.Module):
    """The reference's image encoder: a timm ViT-B/16, CLS token after the final norm,
    explicit attention (the timm of the time)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        import timm
        self.vit = timm.create_model('vit_base_patch16_224', pretrained=False)
        self.vit.load_state_dict(torch.load(path, map_location='cpu'))
        for block in self.vit.blocks:
            block.attn.fused_attn = False
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.vit.forward_features((images / 255 - 0.5) / 0.5)[:, 0]


class RefTextTeacher(nn.Module):
    """The reference's text encoder: CLIP's text tower, prompts tokenised in the step."""

    def __init__(self, path: str) -> None:
        super().__init__()
        import open_clip
        self.clip = open_clip.create_model('ViT-B-32-quickgelu', pretrained=None)
        self.clip.load_state_dict(torch.load(path, map_location='cpu'))
        self.clip.visual = None
        self.requires_grad_(False)

    def forward(self, texts) -> torch.Tensor:
        import open_clip
        return self.clip.encode_text(open_clip.tokenize(texts))


def build(variant, files):
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from bench_common import REPO
    init_default_scope('mmdet3d')
    MMLogger.get_current_instance().setLevel('WARNING')
    torch.manual_seed(0)
    if variant.startswith('reference'):
        from reference_models import RefReCon
        teachers = [RefImageTeacher(files['vit']), RefTextTeacher(files['clip'])]
        return RefReCon(*teachers), teachers
    _, precision = VARIANTS[variant]
    cfg = Config.fromfile(f'{REPO}/configs/recon_pretrain.py').model
    cfg.img_teacher.update(checkpoint=files['vit'], precision=precision)
    cfg.text_teacher.update(checkpoint=files['clip'], precision=precision)
    model = MODELS.build(cfg)
    model.init_weights()
    return model, [model.teachers['img'], model.teachers['text']]


def run_step(variant, model, wrapper, data, times):
    from mmdet3d.structures import Det3DDataSample
    from pt3kd_mm.models.utils import random_group_mask
    from pt3kd_mm.ops import group_points
    t0 = time.perf_counter()
    context = wrapper.optim_context(model) if wrapper is not None else contextlib.nullcontext()
    with context:
        if variant.startswith('reference'):
            neigh, centers, _, _ = group_points(data['points'], 64, 32)
            mask = random_group_mask(data['points'].shape[0], 64, 0.6)
            loss = model(neigh, centers, mask, data['images'], data['texts'])
        else:
            samples = [Det3DDataSample(metainfo=dict(text=t)) for t in data['texts']]
            inputs = dict(points=data['points'], img=data['images'])
            loss = sum(model(inputs, samples, mode='loss').values())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    t1 = time.perf_counter()
    model._opt.zero_grad()
    loss.backward()
    t2 = time.perf_counter()
    model._opt.step()
    t3 = time.perf_counter()
    teachers = sum(timer.pop() for timer in model._timers)
    if times is not None:
        for key, value in (('forward', t1 - t0), ('backward', t2 - t1), ('AdamW step', t3 - t2),
                           ('total', t3 - t0), ('teachers', teachers)):
            times.setdefault(key, []).append(value)


def measure(variant, files, batch, steps):
    from pt3kd_mm.engine import DeviceAgnosticAmpOptimWrapper
    model, teachers = build(variant, files)
    model.train()
    model._opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4,
                                   weight_decay=0.05)
    model._timers = [ForwardTimer(t) for t in teachers]
    amp, _ = VARIANTS[variant]
    wrapper = DeviceAgnosticAmpOptimWrapper(optimizer=model._opt) if amp else None
    data = demo_batch(batch, seed=0)
    small = dict(points=data['points'][:2], images=data['images'][:2], texts=data['texts'][:2])
    run_step(variant, model, wrapper, small, None)  # warm-up (kernels, lazy teacher build)
    runs = []
    for _ in range(steps):
        times = {}
        run_step(variant, model, wrapper, data, times)
        runs.append({k: v[0] for k, v in times.items()})
    return runs, peak_rss_mb()


def main():
    from pt3kd_mm.utils.precision import cpu_has_native_bf16
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3,
                        help='rounds of fresh processes, 2 timed steps each (best of)')
    parser.add_argument('--slow-repeats', type=int, default=1,
                        help='rounds of variants that use bf16 on a CPU that emulates it')
    parser.add_argument('--variants', nargs='*', default=list(VARIANTS))
    args = parser.parse_args()
    slow = not cpu_has_native_bf16()
    with tempfile.TemporaryDirectory() as tmp:
        files = dict(vit=write_random_vit(osp.join(tmp, 'vit_b16_224.pth'),
                                          'vit_base_patch16_224'),
                     clip=write_random_clip(osp.join(tmp, 'clip_b32.pth')))
        res = interleaved_rounds(
            measure, args.variants, args.repeats, args.slow_repeats,
            lambda v: slow and (VARIANTS[v][0] or VARIANTS[v][1] != 'fp32'), files, args.batch)
    ref = res.get('reference fp32')
    print(f'ReCon step with online teachers, B={args.batch} demo objects, 1024 points, student '
          f'12x384 + 3 queries, teachers ViT-B/16 224 (img) + CLIP ViT-B/32 (text) with RANDOM '
          f'weights; best of 2 steps x {args.repeats} rounds ({args.slow_repeats} for variants '
          f'with emulated bf16, 1 step); a fresh process per variant and round, variants '
          f'interleaved')
    print(machine_line())
    head = (f'| {"variant":<30} | {"step s":>7} | {"vs ref":>6} | {"forward s":>9} | '
            f'{"teachers s":>10} | {"teacher share":>13} | {"backward s":>10} | '
            f'{"AdamW s":>7} | {"peak RSS MB":>11} | {"steps (spread)":>14} |')
    print(head)
    print('|' + '|'.join('-' * len(c) for c in head.split('|')[1:-1]) + '|')
    for variant, r in res.items():
        vs = f'{r["total"] / ref["total"]:.2f}' if ref else '-'
        print(f'| {variant:<30} | {r["total"]:7.2f} | {vs:>6} | {r["forward"]:9.2f} | '
              f'{r["teachers"]:10.2f} | {100 * r["teachers"] / r["total"]:12.0f}% | '
              f'{r["backward"]:10.2f} | {r["AdamW step"]:7.3f} | {r["peak RSS MB"]:11.0f} | '
              f'{r["steps"]:>6} ({r["spread"]:.2f}x) |')


if __name__ == '__main__':
    main()
