"""Shared parts of the step / precision benchmarks: the machine line, peak memory, running a
measurement in a fresh process, random stand-in teacher files, timing a module's forward."""
import multiprocessing as mp
import os.path as osp
import platform
import resource
import time
from typing import Any, Callable, Dict, List

import torch
from torch import nn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RANDOM_WEIGHTS_NOTE = (
    'All teachers have RANDOM weights (no pretrained weights can be downloaded here); '
    'pretrained weights can have other activation / outlier statistics, so low-precision '
    'errors measured here are indicative only.')


def machine_line() -> str:
    """CPU model, threads and whether bf16 is native (AMX / AVX512-BF16) or emulated."""
    from pt3kd_mm.utils.precision import cpu_has_native_bf16
    model = platform.processor() or ''
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    cpu = torch.cpu
    flags = ', '.join(f'{name}: {"yes" if getattr(cpu, fn)() else "no"}' for name, fn in (
        ('AMX', '_is_amx_tile_supported'), ('AVX512-BF16', '_is_avx512_bf16_supported'),
        ('AVX512', '_is_avx512_supported')))
    native = 'native' if cpu_has_native_bf16() else 'EMULATED (slower than fp32)'
    return (f'CPU: {model}, {torch.get_num_threads()} threads, torch {torch.__version__} '
            f'({torch.backends.cpu.get_cpu_capability()}; {flags}); bf16 matmul: {native}')


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Callable, args: tuple, queue) -> None:
    try:
        queue.put(('ok', fn(*args)))
    except BaseException as err:  # report, do not hang the parent
        import traceback
        queue.put(('error', f'{err!r}\n{traceback.format_exc()}'))


def in_fresh_process(fn: Callable, *args) -> Any:
    """``fn(*args)`` in a new (spawned) Python process, so peak memory and allocator state
    belong to that measurement alone. ``fn`` must be a module-level function."""
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    status, value = queue.get()
    proc.join()
    if status != 'ok':
        raise RuntimeError(f'{getattr(fn, "__name__", fn)}{args} failed:\n{value}')
    return value


class ForwardTimer:
    """Accumulates the wall time of ``module``'s forward calls (hooks), e.g. a teacher's share
    of a training step."""

    def __init__(self, module: nn.Module) -> None:
        self.total = 0.0
        self._start = 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, *_) -> None:
        self._start = time.perf_counter()

    def _post(self, *_) -> None:
        self.total += time.perf_counter() - self._start

    def pop(self) -> float:
        total, self.total = self.total, 0.0
        return total


def write_random_vit(path: str, name: str = 'vit_base_patch16_384', seed: int = 0) -> str:
    """A randomly initialised timm ViT state dict (timm layout) at ``path``."""
    import timm
    torch.manual_seed(seed)
    torch.save(timm.create_model(name, pretrained=False).state_dict(), path)
    return path


def write_random_clip(path: str, name: str = 'ViT-B-32-quickgelu', seed: int = 0) -> str:
    """A randomly initialised open_clip CLIP state dict at ``path``."""
    import open_clip
    torch.manual_seed(seed)
    torch.save(open_clip.create_model(name, pretrained=None).state_dict(), path)
    return path


def act_stage1_files(tmp: str, seed: int = 0) -> Dict[str, str]:
    """Random ViT-B/16 (384) and a stage-1 ``ACTAutoencoder`` checkpoint around it (the
    reference configs), as ``configs/act_pretrain.py`` reads them."""
    from mmengine.config import Config
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    vit = write_random_vit(osp.join(tmp, 'vit_b16_384.pth'), seed=seed)
    cfg = Config.fromfile(osp.join(REPO, 'configs/act_autoencoder.py')).model
    cfg.vit_blocks.checkpoint = vit
    torch.manual_seed(seed)
    stage1 = MODELS.build(cfg)
    stage1.init_weights()
    path = osp.join(tmp, 'stage1.pth')
    torch.save({'state_dict': stage1.state_dict()}, path)
    return dict(vit=vit, stage1=path)


def act_teacher_cfg(files: Dict[str, str], precision: str = 'fp32') -> dict:
    """``configs/act_pretrain.py``'s teacher on the files of ``act_stage1_files``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs/act_pretrain.py')).model.teacher
    cfg.checkpoint = files['stage1']
    cfg.model.vit_blocks.checkpoint = files['vit']
    cfg.precision = precision
    return cfg.to_dict()


def median(values: List[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def demo_batch(batch: int, num_points: int = 1024, seed: int = 0) -> Dict[str, Any]:
    """B procedural demo objects (``pt3kd_mm.testing``): points (B, N, 3) in the unit sphere,
    their rendered views (B, 3, 224, 224) RGB 0-255 float, one ReCon prompt of the class name
    each, and the class names."""
    import numpy as np
    from pt3kd_mm.datasets.transforms.image_text import recon_prompts
    from pt3kd_mm.testing.demo_data import CLASSES, make_shape, render_view
    rng = np.random.default_rng(seed)
    classes = list(CLASSES.values())
    points, images, texts, names = [], [], [], []
    for i in range(batch):
        name, sampler = classes[i % len(classes)]
        pts = make_shape(rng, sampler, 4 * num_points)
        images.append(render_view(pts))
        pts = pts[rng.choice(len(pts), num_points, replace=False)]
        pts = pts - pts.mean(0)
        points.append(pts / np.linalg.norm(pts, axis=1).max())
        prompts = recon_prompts(name)
        texts.append(prompts[rng.integers(len(prompts))])
        names.append(name)
    return dict(points=torch.from_numpy(np.stack(points)).float(),
                images=torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float(),
                texts=texts, names=names)


def interleaved_rounds(measure: Callable, variants: List[str], rounds: int, slow_rounds: int,
                       is_slow: Callable[[str], bool], *args,
                       steps: int = 2) -> Dict[str, Dict[str, float]]:
    """Run ``measure(variant, *args, steps)`` (after a warm-up, ``steps`` timed steps, each a
    dict of numbers with a 'total', plus 'peak RSS MB') in a fresh process per variant and
    round, the variants interleaved within each round, so that load from other processes on a
    shared machine hits all variants alike. Variants with ``is_slow(variant)`` run one step and
    only in the first ``slow_rounds`` rounds. Returns per variant the numbers of its fastest
    step ('total'; best-of-N, the estimate least disturbed by other load; all parts from that
    same step), its peak memory over the rounds, 'steps' timed and 'spread' (slowest / fastest
    total)."""
    results: Dict[str, List[Dict[str, float]]] = {v: [] for v in variants}
    rss: Dict[str, float] = {v: 0.0 for v in variants}
    for r in range(rounds):
        for variant in variants:
            slow = is_slow(variant)
            if slow and r >= slow_rounds:
                continue
            runs, peak = in_fresh_process(measure, variant, *args, 1 if slow else steps)
            results[variant] += runs
            rss[variant] = max(rss[variant], peak)
    out = {}
    for variant, runs in results.items():
        if not runs:  # a slow variant with slow_rounds=0: not measured, not shown
            continue
        best = dict(min(runs, key=lambda run: run['total']))
        best['peak RSS MB'] = rss[variant]
        best['steps'] = len(runs)
        best['spread'] = max(run['total'] for run in runs) / best['total']
        out[variant] = best
    return out
