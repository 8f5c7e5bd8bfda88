"""3DETR on CPU: parameters, training step time and inference time per scene, ours beside the
original 3DETR code in the same run.

Rows (each measured in fresh processes, the variants interleaved round by round):
  * original 3DETR code + pt3kd_mm CPU ops: facebookresearch/3detr's ``models/model_3detr.py``
    (``build_3detr``), ``criterion.py`` (``build_criterion``) and ``utils/ap_calculator.py``
    (``parse_predictions``) imported at run time from ``--reference-root`` (a checkout of
    https://github.com/facebookresearch/3detr; nothing of it is copied here), with the ScanNet
    settings of ``scripts/scannet_ep1080.sh``. Its CUDA extension ``pointnet2._ext`` is
    replaced by a shim module over ``pt3kd_mm.ops`` (``farthest_point_sample``,
    ``ball_query``, ``gather_points``), injected into ``sys.modules`` before the import; see
    ``reference_ext_shim``. Their Python code (``pointnet2_utils`` autograd Functions,
    ``QueryAndGroup``, the modules) runs unchanged, with two run-time patches:
    their ``nn.Dropout(inplace=True)`` modules get ``inplace=False`` after the build (an
    in-place dropout on a ReLU output breaks backward on current PyTorch, 3detr issues #12 /
    #55; the same function) and the cythonized ``box_intersection`` is not needed (ScanNet
    boxes are axis-aligned, so the GIoU takes their pure-PyTorch path; the "could not import"
    notice is silenced).
  * pt3kd_mm 3DETR baseline: ``projects/ThreeDETR/configs/threedetr_3detr-enc_...`` (our
    re-implementation of the original encoder).
  * pt3kd_mm 3DETR + Point-MAE encoder: ``projects/ThreeDETR/configs/threedetr_point-mae-...``
    (PointPatchTransformer 12 x 384).

Per variant: parameter count; a training step (batch --batch scenes of --points points, a few
synthetic boxes each: forward + loss + backward + gradient clipping at 0.1 + AdamW, as the
original ``engine.py`` does; ours also runs its data preprocessor); inference per scene (batch
1: --points points in, boxes out, post-processing included: the original's exact-evaluation
``parse_predictions`` - empty-box removal, per-class 3D NMS 0.25, confidence 0.05, per-class
proposals - and ours ``model.predict`` with the same test_cfg). Timings are best-of-N
(the fastest of all timed steps over the rounds, each round a fresh process after a warm-up
step) with the spread (slowest / fastest); peak RSS is the process's over the rounds.
The scenes are synthetic (an 8 x 6 m room: floor, two walls, --boxes boxes with points on
their faces); all weights are random (no weights are downloaded).

Usage:
    python benchmarks/bench_threedetr.py --reference-root /path/to/3detr [--batch 2]
        [--points 40000] [--boxes 8] [--rounds 3] [--steps 2] [--quick] [--threads N]
        [--variants reference ours-3detr ours-point-mae] [--no-train] [--no-infer]
Without --reference-root only our rows are measured (and the table says why).
"""
import argparse
import contextlib
import importlib.util
import io
import os
import os.path as osp
import sys
import time
import types
from types import SimpleNamespace
from typing import Dict, List, Tuple

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_common import REPO, interleaved_rounds, machine_line, peak_rss_mb  # noqa: E402

VARIANTS = {
    'reference': 'original 3DETR code + pt3kd_mm CPU ops',
    'ours-3detr': 'pt3kd_mm 3DETR, 3DETR encoder (baseline)',
    'ours-point-mae': 'pt3kd_mm 3DETR, Point-MAE encoder 12x384',
}
CONFIGS = {
    'ours-3detr': 'projects/ThreeDETR/configs/threedetr_3detr-enc_8xb8-1080e_scannet-3d.py',
    'ours-point-mae':
    'projects/ThreeDETR/configs/threedetr_point-mae-enc_8xb8-1080e_scannet-3d.py',
}
NUM_CLASSES = 18  # ScanNet
# the original's ScanNet run (scripts/scannet_ep1080.sh on main.py's defaults)
REFERENCE_ARGS = dict(
    model_name='3detr', enc_type='vanilla', enc_nlayers=3, enc_dim=256, enc_ffn_dim=128,
    enc_dropout=0.1, enc_nhead=4, enc_pos_embed=None, enc_activation='relu', dec_nlayers=8,
    dec_dim=256, dec_ffn_dim=256, dec_dropout=0.1, dec_nhead=4, mlp_dropout=0.3, nsemcls=-1,
    preenc_npoints=2048, pos_embed='fourier', nqueries=256, use_color=False,
    matcher_giou_cost=2.0, matcher_cls_cost=1.0, matcher_center_cost=0.0,
    matcher_objectness_cost=0.0, loss_giou_weight=1.0, loss_sem_cls_weight=1.0,
    loss_no_object_weight=0.25, loss_angle_cls_weight=0.1, loss_angle_reg_weight=0.5,
    loss_center_weight=5.0, loss_size_weight=1.0, base_lr=5e-4, weight_decay=0.1,
    filter_biases_wd=False, clip_gradient=0.1)
LR, WEIGHT_DECAY, CLIP = 5e-4, 0.1, 0.1  # the same optimiser for every row


# --------------------------------------------------------------------------------------------
# synthetic scenes
# --------------------------------------------------------------------------------------------
def synthetic_scenes(batch: int, num_points: int, num_boxes: int,
                     seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, N, 3) float32 points of an 8 x 6 x 3 m room (40 % floor, 20 % two walls, 40 % on the
    faces of ``num_boxes`` axis-aligned boxes standing on the floor), the boxes (B, K, 6) as
    (centre, size) and their labels (B, K)."""
    rng = np.random.default_rng(seed)
    points = np.empty((batch, num_points, 3), dtype=np.float32)
    boxes = np.empty((batch, num_boxes, 6), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, (batch, num_boxes))
    n_floor, n_wall = int(0.4 * num_points), int(0.2 * num_points)
    n_box = num_points - n_floor - n_wall
    for b in range(batch):
        size = rng.uniform(0.3, 1.5, (num_boxes, 3))
        centre = np.c_[rng.uniform(0.8, 7.2, num_boxes), rng.uniform(0.8, 5.2, num_boxes),
                       size[:, 2] / 2]
        boxes[b] = np.c_[centre, size]
        floor = np.c_[rng.random(n_floor) * 8, rng.random(n_floor) * 6,
                      rng.normal(0, 0.01, n_floor)]
        wall_x = rng.random(n_wall) < 0.5
        wall = np.c_[np.where(wall_x, rng.random(n_wall) * 8, rng.normal(0, 0.01, n_wall)),
                     np.where(wall_x, 6 + rng.normal(0, 0.01, n_wall), rng.random(n_wall) * 6),
                     rng.random(n_wall) * 3]
        # points on the box faces: a random point in the box pushed to a random face
        owner = rng.integers(0, num_boxes, n_box)
        local = rng.uniform(-0.5, 0.5, (n_box, 3))
        axis = rng.integers(0, 3, n_box)
        local[np.arange(n_box), axis] = rng.choice([-0.5, 0.5], n_box)
        on_box = centre[owner] + local * size[owner]
        points[b] = np.concatenate([floor, wall, on_box])[rng.permutation(num_points)]
    return points, boxes, labels


# --------------------------------------------------------------------------------------------
# the original code, imported from --reference-root
# --------------------------------------------------------------------------------------------
def reference_ext_shim() -> types.ModuleType:
    """A stand-in for 3DETR's compiled ``pointnet2._ext`` (pointnet2 CUDA kernels) on
    ``pt3kd_mm.ops``: same signatures, layouts (features (B, C, N)) and int32 indices. The
    gradient kernels are scatter-adds (what the CUDA ones compute); 3DETR calls them never
    (the grouped tensors are coordinates, which need no gradient)."""
    from pt3kd_mm.ops import ball_query, farthest_point_sample, gather_points

    def furthest_point_sampling(xyz, npoint):  # (B, N, 3) -> (B, npoint) int32
        return farthest_point_sample(xyz, int(npoint)).int()

    def gather_points_ext(features, idx):  # (B, C, N), (B, M) -> (B, C, M)
        return gather_points(features.transpose(1, 2), idx.long()).transpose(1, 2).contiguous()

    def gather_points_grad(grad_out, idx, n):  # (B, C, M) -> (B, C, n)
        out = grad_out.new_zeros(grad_out.shape[0], grad_out.shape[1], n)
        return out.scatter_add_(2, idx.long()[:, None].expand_as(grad_out), grad_out)

    def group_points(features, idx):  # (B, C, N), (B, M, S) -> (B, C, M, S)
        return gather_points(features.transpose(1, 2), idx.long()).permute(0, 3, 1, 2) \
            .contiguous()

    def group_points_grad(grad_out, idx, n):  # (B, C, M, S) -> (B, C, n)
        b, c = grad_out.shape[:2]
        flat = grad_out.reshape(b, c, -1)
        out = grad_out.new_zeros(b, c, n)
        return out.scatter_add_(2, idx.long().reshape(b, 1, -1).expand_as(flat), flat)

    def ball_query_ext(new_xyz, xyz, radius, nsample):  # -> (B, M, nsample) int32
        return ball_query(xyz, new_xyz, float(radius), int(nsample)).int()

    def not_shimmed(name):
        def fn(*args, **kwargs):
            raise NotImplementedError(f'pointnet2._ext.{name} is not shimmed (3DETR does not '
                                      f'use it)')
        return fn

    ext = types.ModuleType('pointnet2._ext')
    ext.__doc__ = 'pt3kd_mm CPU ops standing in for the pointnet2 CUDA extension'
    ext.furthest_point_sampling = furthest_point_sampling
    ext.gather_points = gather_points_ext
    ext.gather_points_grad = gather_points_grad
    ext.group_points = group_points
    ext.group_points_grad = group_points_grad
    ext.ball_query = ball_query_ext
    for name in ('three_nn', 'three_interpolate', 'three_interpolate_grad'):
        setattr(ext, name, not_shimmed(name))
    return ext


def import_reference(root: str) -> SimpleNamespace:
    """Import the original 3DETR's model, criterion, ScanNet config and post-processing from
    the checkout ``root``, with ``pointnet2._ext`` shimmed. Call once per process (it puts
    ``root`` on ``sys.path``: their top-level packages are ``models``, ``utils``, ...)."""
    root = osp.abspath(root)
    if not osp.isfile(osp.join(root, 'models', 'model_3detr.py')):
        raise FileNotFoundError(f'{root} is not a 3DETR checkout (no models/model_3detr.py); '
                                f'clone https://github.com/facebookresearch/3detr')
    clash = [m for m in ('models', 'utils', 'criterion', 'third_party', 'pointnet2')
             if m in sys.modules and not getattr(sys.modules[m], '_pt3kd_shim', False)]
    if clash:
        raise RuntimeError(f'modules {clash} are already imported; the 3DETR checkout needs '
                           f'these top-level names (import it in a fresh process)')
    ext = reference_ext_shim()
    pkg = types.ModuleType('pointnet2')
    pkg.__path__ = []  # a package with nothing else in it
    pkg._pt3kd_shim = True
    pkg._ext = ext
    sys.modules['pointnet2'] = pkg
    sys.modules['pointnet2._ext'] = ext
    sys.path.insert(0, root)
    with contextlib.redirect_stdout(io.StringIO()):  # "Could not import cythonized box..."
        from criterion import build_criterion
        from models.model_3detr import build_3detr
        from utils.ap_calculator import get_ap_config_dict, parse_predictions
        from utils.pc_util import scale_points, shift_scale_points
        # datasets/scannet.py by path: a top-level 'datasets' would shadow HF datasets
        spec = importlib.util.spec_from_file_location(
            'threedetr_reference_scannet', osp.join(root, 'datasets', 'scannet.py'))
        scannet = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(scannet)
    return SimpleNamespace(build_3detr=build_3detr, build_criterion=build_criterion,
                           parse_predictions=parse_predictions,
                           get_ap_config_dict=get_ap_config_dict,
                           ScannetDatasetConfig=scannet.ScannetDatasetConfig,
                           scale_points=scale_points, shift_scale_points=shift_scale_points)


def patch_inplace_dropout(model: torch.nn.Module) -> int:
    """``inplace=False`` on every ``nn.Dropout`` (same function; 3detr issues #12 / #55: an
    in-place dropout on the ReLU output of their FFNs fails in backward). Returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout) and module.inplace:
            module.inplace = False
            count += 1
    return count


def timed_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                 t0: float, who: str) -> Dict[str, float]:
    """The update both sides share (backward, gradient clipping at CLIP, AdamW step), timed from
    the end of the forward + loss begun at ``t0``."""
    t1 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    t2 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    optimizer.step()
    t3 = time.perf_counter()
    if not torch.isfinite(loss):
        raise FloatingPointError(f'{who} loss {loss.item()}')
    return {'forward+loss': t1 - t0, 'backward': t2 - t1, 'optimizer': t3 - t2,
            'total': t3 - t0}


class ReferenceRunner:
    """The original 3DETR (ScanNet settings) with its criterion and post-processing."""

    def __init__(self, root: str) -> None:
        self.ref = import_reference(root)
        self.dataset_config = self.ref.ScannetDatasetConfig()
        args = SimpleNamespace(**REFERENCE_ARGS)
        self.model, _ = self.ref.build_3detr(args, self.dataset_config)
        self.num_patched = patch_inplace_dropout(self.model)
        self.criterion = self.ref.build_criterion(args, self.dataset_config)
        self.ap_config = self.ref.get_ap_config_dict(
            remove_empty_box=True, dataset_config=self.dataset_config)  # exact evaluation
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR,
                                           weight_decay=WEIGHT_DECAY)

    def batch(self, points: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> dict:
        """The tensors the original ScanNet dataset returns (``__getitem__`` without
        augmentation), stacked: inputs and targets."""
        cfg, ref = self.dataset_config, self.ref
        max_obj = cfg.max_num_obj
        out: Dict[str, list] = {}
        for pts, bxs, lbl in zip(points, boxes, labels):
            k = len(bxs)
            target = np.zeros((max_obj, 6), dtype=np.float32)
            target[:k] = bxs
            present = np.zeros(max_obj, dtype=np.float32)
            present[:k] = 1
            sem = np.zeros(max_obj, dtype=np.int64)
            sem[:k] = lbl
            dmin, dmax = pts.min(0), pts.max(0)
            centres = target[:, :3]
            centres_norm = ref.shift_scale_points(
                centres[None], src_range=[dmin[None], dmax[None]],
                dst_range=[np.zeros((1, 3), np.float32), np.ones((1, 3), np.float32)])[0]
            sizes = target[:, 3:6]
            sizes_norm = ref.scale_points(sizes[None], mult_factor=1.0 / (dmax - dmin)[None])[0]
            angles = np.zeros(max_obj, dtype=np.float32)
            corners = cfg.box_parametrization_to_corners_np(centres[None], sizes[None],
                                                            angles[None])[0]
            item = dict(point_clouds=pts, gt_box_corners=corners, gt_box_centers=centres,
                        gt_box_centers_normalized=centres_norm * present[:, None],
                        gt_angle_class_label=np.zeros(max_obj, dtype=np.int64),
                        gt_angle_residual_label=angles, gt_box_sem_cls_label=sem,
                        gt_box_present=present, gt_box_sizes=sizes,
                        gt_box_sizes_normalized=sizes_norm, gt_box_angles=angles,
                        point_cloud_dims_min=dmin, point_cloud_dims_max=dmax)
            for key, value in item.items():
                out.setdefault(key, []).append(torch.from_numpy(np.asarray(value)))
        return {key: torch.stack(value).float() if value[0].is_floating_point()
                else torch.stack(value) for key, value in out.items()}

    @staticmethod
    def _inputs(batch: dict) -> dict:
        return {key: batch[key] for key in ('point_clouds', 'point_cloud_dims_min',
                                            'point_cloud_dims_max')}

    def train_step(self, batch: dict) -> Dict[str, float]:
        self.model.train()
        t0 = time.perf_counter()
        outputs = self.model(self._inputs(batch))
        loss, _ = self.criterion(outputs, batch)
        return timed_update(self.model, self.optimizer, loss, t0, 'reference')

    @torch.no_grad()
    def infer(self, batch: dict) -> Tuple[Dict[str, float], int]:
        self.model.eval()
        t0 = time.perf_counter()
        out = self.model(self._inputs(batch))['outputs']
        t1 = time.perf_counter()
        boxes = self.ref.parse_predictions(out['box_corners'], out['sem_cls_prob'],
                                           out['objectness_prob'], batch['point_clouds'],
                                           self.ap_config)
        t2 = time.perf_counter()
        return {'network': t1 - t0, 'post-processing': t2 - t1, 'total': t2 - t0}, \
            sum(len(b) for b in boxes)


# --------------------------------------------------------------------------------------------
# ours
# --------------------------------------------------------------------------------------------
class OursRunner:
    """A pt3kd_mm 3DETR config (mmdet3d ``Base3DDetector``) with plain AdamW."""

    def __init__(self, config: str) -> None:
        from mmengine.config import Config
        from mmdet3d.registry import MODELS
        from mmdet3d.utils import register_all_modules
        register_all_modules()
        sys.path.insert(0, REPO)
        import projects.ThreeDETR.threedetr  # noqa: F401
        cfg = Config.fromfile(osp.join(REPO, config))
        init_cfg = cfg.model.backbone.get('init_cfg') or {}
        if init_cfg.get('type') == 'Pretrained':  # random weights: no checkpoint here
            cfg.model.backbone.init_cfg = None
        self.model = MODELS.build(cfg.model)
        from mmengine.logging import MMLogger
        MMLogger.get_current_instance().setLevel('WARNING')  # init_weights' per-tensor log
        self.model.init_weights()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR,
                                           weight_decay=WEIGHT_DECAY)
        from bench_common import ForwardTimer
        # the network's share of predict(): the encoder and the head's forward
        self.net_timers = [ForwardTimer(self.model.backbone), ForwardTimer(self.model.bbox_head)]

    def batch(self, points: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> dict:
        from mmengine.structures import InstanceData
        from mmdet3d.structures import Det3DDataSample, DepthInstance3DBoxes
        samples = []
        for bxs, lbl in zip(boxes, labels):
            sample = Det3DDataSample()
            sample.gt_instances_3d = InstanceData(
                bboxes_3d=DepthInstance3DBoxes(torch.from_numpy(bxs), box_dim=6,
                                               with_yaw=False, origin=(0.5, 0.5, 0.5)),
                labels_3d=torch.from_numpy(lbl).long())
            sample.set_metainfo(dict(box_type_3d=DepthInstance3DBoxes))
            samples.append(sample)
        return dict(inputs=dict(points=[torch.from_numpy(p) for p in points]),
                    data_samples=samples)

    def train_step(self, batch: dict) -> Dict[str, float]:
        self.model.train()
        t0 = time.perf_counter()
        data = self.model.data_preprocessor(batch, training=True)
        losses = self.model(**data, mode='loss')
        loss, _ = self.model.parse_losses(losses)
        return timed_update(self.model, self.optimizer, loss, t0, 'pt3kd_mm')

    @torch.no_grad()
    def infer(self, batch: dict) -> Tuple[Dict[str, float], int]:
        self.model.eval()
        for timer in self.net_timers:
            timer.pop()
        t0 = time.perf_counter()
        data = self.model.data_preprocessor(batch, training=False)
        results = self.model(**data, mode='predict')
        total = time.perf_counter() - t0
        network = sum(timer.pop() for timer in self.net_timers)
        return {'network': network, 'post-processing': total - network, 'total': total}, \
            sum(len(r.pred_instances_3d) for r in results)


# --------------------------------------------------------------------------------------------
# measurement (one fresh process per variant, mode and round)
# --------------------------------------------------------------------------------------------
def _runner(variant: str, cfg: SimpleNamespace):
    if variant == 'reference':
        return ReferenceRunner(cfg.reference_root)
    return OursRunner(CONFIGS[variant])


def measure(job: Tuple[str, str], cfg: SimpleNamespace, steps: int):
    """(variant, 'train' | 'infer') -> (one dict of seconds per timed step, peak RSS MB); the
    dicts also carry the parameter count and, for inference, the boxes returned."""
    variant, mode = job
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    runner = _runner(variant, cfg)
    params = sum(p.numel() for p in runner.model.parameters())
    batch_size = cfg.batch if mode == 'train' else 1
    points, boxes, labels = synthetic_scenes(batch_size, cfg.points, cfg.boxes, seed=cfg.seed)
    batch = runner.batch(points, boxes, labels)
    runs = []
    for step in range(steps + 1):  # the first one warms up (numba caches, allocator)
        if mode == 'train':
            times = runner.train_step(batch)
        else:
            times, num_boxes = runner.infer(batch)
            times['boxes'] = num_boxes
        times['params'] = params
        if step:
            runs.append(times)
    return runs, peak_rss_mb()


def _ratio(results: dict, job: Tuple[str, str]) -> str:
    ref = results.get(('reference', job[1]))
    return f'{results[job]["total"] / ref["total"]:.2f}x' if ref else '-'


def print_tables(results: Dict[Tuple[str, str], dict], variants: List[str], modes: List[str],
                 cfg: SimpleNamespace, notes: List[str]) -> None:
    print(f'3DETR on CPU: {cfg.points} points per scene, {cfg.boxes} synthetic boxes per scene, '
          f'random weights. Best of the timed steps ({cfg.rounds} round(s) x {cfg.steps} '
          f'step(s), a fresh process per round and row, rows interleaved), spread = slowest / '
          f'fastest; "vs original" = time / the original\'s time in this run.')
    print()
    print(machine_line())
    for note in notes:
        print()
        print(note)
    print()
    labelled = [(v, VARIANTS[v]) for v in variants]
    if 'train' in modes:
        print(f'Training step, batch {cfg.batch}: forward + loss + backward + clip_grad_norm '
              f'0.1 + AdamW')
        print()
        print('| model | params M | step s | per scene s | fwd+loss s | bwd s | clip+AdamW s | '
              'spread | peak RSS MB | vs original |')
        print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for variant, label in labelled:
            r = results.get((variant, 'train'))
            if r is None:
                continue
            print(f'| {label} | {r["params"] / 1e6:.2f} | {r["total"]:.2f} | '
                  f'{r["total"] / cfg.batch:.2f} | {r["forward+loss"]:.2f} | '
                  f'{r["backward"]:.2f} | {r["optimizer"]:.2f} | {r["spread"]:.2f} | '
                  f'{r["peak RSS MB"]:.0f} | {_ratio(results, (variant, "train"))} |')
        print()
    if 'infer' in modes:
        print('Inference per scene, batch 1: points in -> boxes out (network + post-processing: '
              'empty-box removal, per-class 3D NMS 0.25, score > 0.05, per-class proposals)')
        print()
        print('| model | params M | scene s | network s | post-processing s | boxes out | '
              'spread | peak RSS MB | vs original |')
        print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
        for variant, label in labelled:
            r = results.get((variant, 'infer'))
            if r is None:
                continue
            print(f'| {label} | {r["params"] / 1e6:.2f} | {r["total"]:.3f} | '
                  f'{r["network"]:.3f} | {r["post-processing"]:.3f} | {int(r["boxes"])} | '
                  f'{r["spread"]:.2f} | {r["peak RSS MB"]:.0f} | '
                  f'{_ratio(results, (variant, "infer"))} |')
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reference-root', default=None,
                        help='a checkout of https://github.com/facebookresearch/3detr')
    parser.add_argument('--batch', type=int, default=2, help='training batch (scenes)')
    parser.add_argument('--points', type=int, default=40000, help='points per scene')
    parser.add_argument('--boxes', type=int, default=8, help='synthetic boxes per scene')
    parser.add_argument('--rounds', type=int, default=3, help='fresh processes per row')
    parser.add_argument('--steps', type=int, default=2, help='timed steps per process')
    parser.add_argument('--quick', action='store_true',
                        help='one round of one timed step (same model sizes)')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--no-train', action='store_true')
    parser.add_argument('--no-infer', action='store_true')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 1, 1
    variants = list(args.variants)
    notes = []
    if args.reference_root is None and 'reference' in variants:
        variants.remove('reference')
        notes.append('No --reference-root given: the original 3DETR row is not measured (pass a '
                     'checkout of https://github.com/facebookresearch/3detr); no ratios.')
    missing = [v for v in variants if v in CONFIGS and not osp.isfile(osp.join(REPO, CONFIGS[v]))]
    if missing:
        notes.append(f'Skipped (config not found): {missing}.')
        variants = [v for v in variants if v not in missing]
    modes = [m for m, off in (('train', args.no_train), ('infer', args.no_infer)) if not off]
    cfg = SimpleNamespace(reference_root=args.reference_root, batch=args.batch,
                          points=args.points, boxes=args.boxes, threads=args.threads,
                          seed=args.seed, rounds=args.rounds, steps=args.steps)
    # numba threads of the children (pt3kd_mm's ops) = torch threads
    os.environ.setdefault('NUMBA_NUM_THREADS', str(args.threads))
    jobs = [(v, m) for m in modes for v in variants]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    results = interleaved_rounds(measure, jobs, args.rounds, args.rounds, lambda job: False,
                                 cfg, steps=args.steps)
    notes.append(f'Load average (1 min) at start / end: {load_before:.1f} / '
                 f'{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes share the '
                 f'machine when it exceeds the thread count); run took '
                 f'{(time.perf_counter() - start) / 60:.0f} min.')
    print_tables(results, variants, modes, cfg, notes)


if __name__ == '__main__':
    main()
