"""ScanNet scene segmentation (``PointSceneSegmentor``): whole-scene inference per scene and
the training step, on CPU (and CUDA with ``--device cuda``), in one run.

The network is the full-size one that
``configs/scene_segmentation/pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py`` builds:
PointPatchTransformer 12 x 384 (6 heads) on blocks of 8192 points in 256 groups of 32, the
tokens of blocks 4, 8, 12 propagated to every point by ``PointSceneSegHead`` (skip xyz + rgb,
Conv1d 1536 -> 1024, max + mean of the tokens, Conv1d 512 -> 256, 20 classes). Weights are
RANDOM (the backbone's ``init_cfg`` is dropped; nothing is downloaded): timing does not depend
on them.

The scene is one synthetic room of ``pt3kd_mm.testing.create_scannet_demo`` (--scene-points
points, ``points/scene0000_00.bin``: xyz + rgb as mmdet3d's converter writes them, the raw,
unaligned frame), rgb / 255 as the test pipeline's ``NormalizePointsColor``.

Rows (each job in a fresh process, so peak memory belongs to it; a warm-up first):
  * inference, ``test_cfg.mode='chunk'`` (ours, ``scene_chunks.plan_scene_chunks``): every
    point predicted once, from the 1.5 m window around its 0.75 m cell, passes of 8192 points,
    8 passes per batch;
  * inference, ``test_cfg.mode='slide'``: mmdet3d's ``EncoderDecoder3D.slide_inference``
    (1.5 m windows at stride 0.75 m, each window's points in patches of 8192, logits averaged
    over the patches covering a point), same batch size.
  Both run ``model.test_step`` on ``dict(inputs=dict(points=[scene]), data_samples=[...])`` as
  the test loop does (data preprocessor, ``predict``, argmax): "scene s" is that call,
  "network s" the ``encode_decode`` calls inside it (encoder + head), "other s" the rest
  (chunk planning / window sampling, gathers, scatter-averaging, argmax). "passes" are the
  8192-point forward passes; "fed / point" = passes x 8192 / scene points; points/s = scene
  points / scene s. The warm-up is one 8192-point pass (numba kernels, allocator).
  * training step, fine-tune (that config) and linear probe
    (``pointscene-linear_point-mae-enc_2xb8-200e_scannet-seg.py``: ``freeze_backbone=True``
    and the base's ``linear_probe_head``): --batch blocks of 8192 points drawn from the room by
    mmdet3d's ``IndoorPatchPointSample`` (as the train pipeline: 1.5 m, enlarge 0.2), labels
    random in 0..19; the data preprocessor, ``mode='loss'`` (weighted cross-entropy), backward,
    then the config's optimiser wrapper step (gradient clipping at norm 10 + AdamW with the
    config's parameter-wise decay). The median of --steps timed steps after a warm-up step on
    one block; "min s" the fastest step.
"peak RSS" is the process's peak resident memory (model, optimiser state, activations); on
CUDA also the peak of ``torch.cuda.max_memory_allocated``.

Usage:
    python benchmarks/bench_sceneseg.py [--scene-points 50000] [--batch 2] [--repeats 1]
        [--steps 2] [--rounds 1] [--jobs chunk slide finetune linear] [--device cpu|cuda]
        [--no-cpu] [--threads N] [--seed 0]
"""
import argparse
import contextlib
import os
import os.path as osp
import sys
import tempfile
import time
import warnings
from types import SimpleNamespace
from typing import Dict, List, Tuple

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_common import REPO, machine_line, median, peak_rss_mb  # noqa: E402

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
FINETUNE_CFG = 'configs/scene_segmentation/pointscene-seg_point-mae-enc_2xb8-200e_scannet-seg.py'
LINEAR_CFG = 'configs/scene_segmentation/pointscene-linear_point-mae-enc_2xb8-200e_scannet-seg.py'
# job: (kind, config, test mode or None, label)
JOBS = {
    'chunk': ('infer', FINETUNE_CFG, 'chunk', "mode 'chunk' (ours, each point once)"),
    'slide': ('infer', FINETUNE_CFG, 'slide', "mode 'slide' (mmdet3d, overlap averaged)"),
    'finetune': ('train', FINETUNE_CFG, None, 'fine-tune'),
    'linear': ('train', LINEAR_CFG, None, 'linear probe (frozen encoder)'),
}
NUM_CLASSES = 20


@contextlib.contextmanager
def quiet():
    """Silence stdout and stderr at the file-descriptor level (the converter's progress bars
    hold their own reference to the stream)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def synthetic_room(folder: str, num_points: int, seed: int) -> str:
    """One ``create_scannet_demo`` room as a (N, 6) float32 .npy (xyz, rgb / 255) in
    ``folder``; returns its path."""
    from pt3kd_mm.testing import create_scannet_demo
    root = osp.join(folder, 'scannet')
    # create_scannet_demo needs >= 2 scenes (train + val); the first one is used
    with quiet():
        create_scannet_demo(root, num_scenes=2, points_per_scene=num_points, seed=seed)
    points = np.fromfile(osp.join(root, 'points', 'scene0000_00.bin'),
                         dtype=np.float32).reshape(-1, 6)
    points[:, 3:] /= 255.0  # NormalizePointsColor(color_mean=None)
    path = osp.join(folder, 'scene.npy')
    np.save(path, points)
    return path


def build_model(config: str, test_mode: str, device: str):
    """The config's model (random weights), built as ``tools/train.py`` would, and its
    config."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmdet3d.registry import MODELS
    import pt3kd_mm  # noqa: F401
    init_default_scope('mmdet3d')
    # init_weights' notices, the optimiser constructor's one line per frozen parameter
    MMLogger.get_current_instance().setLevel('ERROR')
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.model.backbone.init_cfg = None  # random weights: no checkpoint here
    if test_mode is not None:
        cfg.model.test_cfg.mode = test_mode
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device), cfg


class Stopwatch:
    """Wall time that waits for the device's queued work first."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device.startswith('cuda')

    def __call__(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def count_passes(model, clock: Stopwatch) -> dict:
    """Wrap ``model.encode_decode`` (on the instance): adds the blocks it gets to
    ``stats['passes']`` and its time to ``stats['network']``."""
    stats = dict(passes=0, network=0.0)
    inner = model.encode_decode

    def encode_decode(batch_inputs, batch_input_metas):
        t0 = clock()
        out = inner(batch_inputs, batch_input_metas)
        stats['network'] += clock() - t0
        stats['passes'] += batch_inputs.shape[0]
        return out

    model.encode_decode = encode_decode
    return stats


def infer_runs(model, cfg, scene: torch.Tensor, job: SimpleNamespace,
               clock: Stopwatch) -> List[Dict[str, float]]:
    """Warm-up pass, then ``job.repeats`` whole scenes through ``model.test_step``."""
    from mmdet3d.structures import Det3DDataSample
    model.eval()
    num_points = cfg.model.test_cfg.num_points
    with torch.no_grad():  # warm-up: one block of the scene
        warm = scene[:num_points].clone()
        warm[:, :2] -= warm[:, :2].mean(0)
        model.encode_decode(warm[None].to(clock.device), [{}])
    stats = count_passes(model, clock)
    runs = []
    for _ in range(job.repeats):
        torch.manual_seed(job.seed)  # the slide mode's patch draws
        stats.update(passes=0, network=0.0)
        data = dict(inputs=dict(points=[scene]), data_samples=[Det3DDataSample()])
        t0 = clock()
        with torch.no_grad():
            out = model.test_step(data)
        total = clock() - t0
        pred = out[0].pred_pts_seg.pts_semantic_mask
        logits = out[0].pts_seg_logits.pts_seg_logits
        if pred.shape != (len(scene), ) or not torch.isfinite(logits).all():
            raise RuntimeError(f'bad prediction: {tuple(pred.shape)} for {len(scene)} points, '
                               f'finite logits: {bool(torch.isfinite(logits).all())}')
        runs.append(dict(total=total, network=stats['network'], other=total - stats['network'],
                         passes=stats['passes'], classes=len(torch.unique(pred))))
    return runs


def train_blocks(scene: np.ndarray, batch: int, num_points: int, seed: int) -> List[tuple]:
    """``batch`` training blocks (points (num_points, 6), labels (num_points,)) drawn from the
    scene by mmdet3d's ``IndoorPatchPointSample`` with the train pipeline's settings; labels
    random in 0..19."""
    from mmdet3d.datasets.transforms import IndoorPatchPointSample
    from mmdet3d.structures.points import DepthPoints
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, len(scene))
    sampler = IndoorPatchPointSample(num_points=num_points, block_size=1.5,
                                     ignore_index=NUM_CLASSES, use_normalized_coord=False,
                                     enlarge_size=0.2, min_unique_num=None)
    np.random.seed(seed)  # the transform draws with np.random
    blocks = []
    for _ in range(batch):
        out = sampler(dict(points=DepthPoints(scene.copy(), points_dim=6,
                                              attribute_dims=dict(color=[3, 4, 5])),
                           pts_semantic_mask=labels.copy()))
        blocks.append((out['points'].tensor.float(),
                       torch.from_numpy(out['pts_semantic_mask']).long()))
    return blocks


def train_batch(blocks: List[tuple]) -> dict:
    """What ``Pack3DDetInputs`` and the data loader's collate hand to ``train_step``."""
    from mmdet3d.structures import Det3DDataSample, PointData
    samples = []
    for _, labels in blocks:
        sample = Det3DDataSample()
        sample.gt_pts_seg = PointData(pts_semantic_mask=labels)
        samples.append(sample)
    return dict(inputs=dict(points=[p for p, _ in blocks]), data_samples=samples)


def train_runs(model, cfg, scene: np.ndarray, job: SimpleNamespace,
               clock: Stopwatch) -> List[Dict[str, float]]:
    """Warm-up step on one block, then ``job.steps`` steps of ``job.batch`` blocks."""
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    blocks = train_blocks(scene, job.batch + 1, 8192, job.seed)

    def step(batch: dict) -> Dict[str, float]:
        model.train()
        t0 = clock()
        data = model.data_preprocessor(batch, training=True)
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        t1 = clock()
        wrapper.backward(loss)
        t2 = clock()
        wrapper.step()
        wrapper.zero_grad()
        t3 = clock()
        if not torch.isfinite(loss):
            raise FloatingPointError(f'loss {loss.item()}')
        return {'forward+loss': t1 - t0, 'backward': t2 - t1, 'optimizer': t3 - t2,
                'total': t3 - t0}

    step(train_batch(blocks[-1:]))  # warm-up (numba kernels, allocator, AdamW state)
    return [step(train_batch(blocks[:job.batch])) for _ in range(job.steps)]


def _child(fn, args: tuple, queue) -> None:
    try:
        queue.put(('ok', fn(*args)))
    except BaseException as err:  # report, do not hang the parent
        import traceback
        queue.put(('error', f'{err!r}\n{traceback.format_exc()}'))


def in_fresh_process(fn, *args):
    """``bench_common.in_fresh_process`` that also notices a child killed without a word (the
    out-of-memory killer: the fine-tune step can take most of a small machine's memory): raises
    ``ChildProcessError`` then."""
    import multiprocessing as mp
    import queue as queues
    ctx = mp.get_context('spawn')
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, results))
    proc.start()
    while True:
        try:
            status, value = results.get(timeout=5)
            break
        except queues.Empty:
            if not proc.is_alive():
                raise ChildProcessError(f'exit code {proc.exitcode}'
                                        + (' (killed: out of memory?)'
                                           if proc.exitcode == -9 else ''))
    proc.join()
    if status != 'ok':
        raise RuntimeError(f'{getattr(fn, "__name__", fn)}{args} failed:\n{value}')
    return value


def measure(job: SimpleNamespace) -> Tuple[List[Dict[str, float]], dict]:
    """One job in this (fresh) process: (the timed runs, facts: parameters, peak memory)."""
    torch.set_num_threads(job.threads)
    torch.manual_seed(job.seed)
    kind, config, test_mode, _ = JOBS[job.name]
    model, cfg = build_model(config, test_mode, job.device)
    clock = Stopwatch(job.device)
    scene = np.load(job.scene)
    if job.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    if kind == 'infer':
        runs = infer_runs(model, cfg, torch.from_numpy(scene), job, clock)
    else:
        runs = train_runs(model, cfg, scene, job, clock)
    facts = dict(params=sum(p.numel() for p in model.parameters()),
                 trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
                 rss=peak_rss_mb(), scene_points=len(scene),
                 num_points=cfg.model.test_cfg.num_points)
    if job.device.startswith('cuda'):
        facts['cuda_mb'] = torch.cuda.max_memory_allocated() / 2**20
    return runs, facts


def _mem(facts: dict) -> str:
    cuda = f' / {facts["cuda_mb"]:.0f}' if 'cuda_mb' in facts else ''
    return f'{facts["rss"]:.0f}{cuda}'


def print_tables(results: dict, args, notes: List[str]) -> None:
    print(f'PointSceneSegmentor (12 x 384 encoder, 256 groups x 32, 8192 points per pass, '
          f'20 classes), random weights; {args.threads} threads. Inference: median of '
          f'{args.repeats * args.rounds} whole scene(s) per row; training: median of '
          f'{args.steps * args.rounds} step(s) per row, after a warm-up in each of '
          f'{args.rounds} fresh process(es).')
    print()
    print(machine_line())
    for note in notes:
        print(note)
    print()
    infer = [(key, r) for key, r in results.items() if JOBS[key[1]][0] == 'infer']
    if infer:
        print('Whole-scene inference, one scene per test_step (data preprocessor + predict + '
              'argmax), test_cfg batch_size 8 passes')
        print()
        print('| device | test mode | scene points | passes | fed / point | scene s | '
              'network s | other s | points/s | classes predicted | peak RSS MB (/ CUDA) |')
        print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for (device, name), (runs, facts) in infer:
            total = median([r['total'] for r in runs])
            passes = runs[0]['passes']
            print(f'| {device} | {JOBS[name][3]} | {facts["scene_points"]} | {passes} | '
                  f'{passes * facts["num_points"] / facts["scene_points"]:.2f} | '
                  f'{total:.2f} | {median([r["network"] for r in runs]):.2f} | '
                  f'{median([r["other"] for r in runs]):.2f} | '
                  f'{facts["scene_points"] / total:.0f} | {runs[0]["classes"]} | '
                  f'{_mem(facts)} |')
        print()
    train = [(key, r) for key, r in results.items() if JOBS[key[1]][0] == 'train']
    if train:
        print(f'Training step, batch {args.batch} blocks of 8192 points: data preprocessor + '
              f'forward + loss, backward, clip_grad 10 + AdamW (the config\'s optim_wrapper)')
        print()
        print('| device | protocol | params M | trainable M | step s (median) | min s | '
              'per block s | fwd+loss s | bwd s | clip+AdamW s | peak RSS MB (/ CUDA) |')
        print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for (device, name), (runs, facts) in train:
            total = median([r['total'] for r in runs])
            print(f'| {device} | {JOBS[name][3]} | {facts["params"] / 1e6:.2f} | '
                  f'{facts["trainable"] / 1e6:.3f} | {total:.2f} | '
                  f'{min(r["total"] for r in runs):.2f} | {total / args.batch:.2f} | '
                  f'{median([r["forward+loss"] for r in runs]):.2f} | '
                  f'{median([r["backward"] for r in runs]):.2f} | '
                  f'{median([r["optimizer"] for r in runs]):.3f} | {_mem(facts)} |')
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--scene-points', type=int, default=50000,
                        help='points of the synthetic room')
    parser.add_argument('--batch', type=int, default=2, help='training blocks per step')
    parser.add_argument('--repeats', type=int, default=1,
                        help='timed whole scenes per inference row and process')
    parser.add_argument('--steps', type=int, default=2,
                        help='timed training steps per training row and process')
    parser.add_argument('--rounds', type=int, default=1,
                        help='fresh processes per row (rows interleaved round by round)')
    parser.add_argument('--jobs', nargs='+', default=list(JOBS), choices=list(JOBS))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'],
                        help='cuda: also measure on the GPU (if available)')
    parser.add_argument('--no-cpu', action='store_true', help='with --device cuda: GPU only')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    notes = []
    devices = [] if args.no_cpu and args.device == 'cuda' else ['cpu']
    if args.device == 'cuda':
        if torch.cuda.is_available():
            devices.append('cuda')
            notes.append(f'GPU: {torch.cuda.get_device_name(0)}')
        else:
            notes.append('--device cuda: CUDA is not available, CPU rows only.')
            devices = ['cpu']
    # numba threads of the children (pt3kd_mm's ops) = torch threads
    os.environ.setdefault('NUMBA_NUM_THREADS', str(args.threads))
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    results: Dict[Tuple[str, str], Tuple[list, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scene = synthetic_room(tmp, args.scene_points, args.seed)
        for _ in range(args.rounds):
            for device in devices:
                for name in args.jobs:
                    job = SimpleNamespace(name=name, device=device, scene=scene,
                                          threads=args.threads, seed=args.seed,
                                          repeats=args.repeats, steps=args.steps,
                                          batch=args.batch)
                    try:
                        runs, facts = in_fresh_process(measure, job)
                    except ChildProcessError as err:
                        notes.append(f'{device} {JOBS[name][3]}: not measured, the process '
                                     f'died ({err}).')
                        continue
                    if (device, name) in results:
                        old_runs, old_facts = results[(device, name)]
                        facts['rss'] = max(facts['rss'], old_facts['rss'])
                        if 'cuda_mb' in facts:
                            facts['cuda_mb'] = max(facts['cuda_mb'], old_facts['cuda_mb'])
                        runs = old_runs + runs
                    results[(device, name)] = (runs, facts)
    notes.append(f'Synthetic room: create_scannet_demo(points_per_scene={args.scene_points}, '
                 f'seed={args.seed}) scene0000_00. Load average (1 min) at start / end: '
                 f'{load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; run '
                 f'took {(time.perf_counter() - start) / 60:.1f} min.')
    print_tables(results, args, notes)


if __name__ == '__main__':
    main()
