"""Render a checkpoint's inputs and outputs, offline and headless (no display is ever opened),
to PNG images and self-contained interactive HTML pages (plotly, inlined: no network)::

    python tools/visualize.py CONFIG CHECKPOINT --show-dir DIR
        [--mode groups|reconstruction|detection|segmentation] [--num-samples N]
        [--format png html] [--size W H] [--split test|val|train] [--seed S]
        [--score-thr T] [--max-boxes M] [--max-points P] [--work-dir DIR]
        [--non-strict] [--cfg-options k=v ...]

It reads the configs and checkpoints of ``tools/test.py`` (the same checked loading; the
config's ``test_dataloader``, or ``--split``; a config without one, as ACT's pre-training,
falls back to val, then train) and writes ``DIR/<index>_<sample>_<mode>.{png,html}`` for the
first N samples. Modes (picked from the model when ``--mode`` is omitted):

* ``groups``: the cloud with its FPS + kNN groups coloured (any model with a point-patch
  backbone);
* ``reconstruction`` (Point-MAE, ReCon, ACT): original | visible groups (masked ones grey) |
  visible + predicted masked groups (the re-centred predictions plus their group centres).
  ACT's student predicts the teacher's features of the masked groups, not points: its figure
  shows the groups and the mask only, and says so in its title;
* ``detection`` (the ThreeDETR project): ground-truth boxes beside the predicted ones, with
  class names and scores (``--score-thr``, at most ``--max-boxes`` by score);
* ``segmentation`` (the scene segmentor): ground truth beside the prediction, per point, in
  the dataset's palette (ScanNet's by default; the ignore label grey).

The mask of sample i is drawn with seed ``--seed + i`` (repeatable figures).
"""
import os

os.environ['MPLBACKEND'] = 'Agg'  # never a display, even if pyplot is imported
import matplotlib  # noqa: E402

matplotlib.use('Agg')

import argparse  # noqa: E402
import copy  # noqa: E402
import os.path as osp  # noqa: E402
import re  # noqa: E402
from typing import List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from pt3kd_mm.engine.config_checks import check_image_channel_order  # noqa: E402
from pt3kd_mm.utils.checkpoint import load_checkpoint_checked  # noqa: E402
from pt3kd_mm.visualization import (assemble_reconstruction, index_colors,  # noqa: E402
                                    render_boxes, render_groups, render_reconstruction,
                                    render_segmentation, scannet_seg_palette)

MODES = ('groups', 'reconstruction', 'detection', 'segmentation')
DEFAULT_SIZE = dict(groups=(800, 400), reconstruction=(1200, 400), detection=(800, 400),
                    segmentation=(800, 400))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Render samples and a checkpoint\'s predictions to PNG and HTML')
    parser.add_argument('config', help='config file (as for tools/test.py)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--show-dir', required=True, help='directory to write the figures to')
    parser.add_argument('--mode', choices=MODES,
                        help='what to draw (default: picked from the model type)')
    parser.add_argument('--num-samples', type=int, default=4, help='samples to draw (4)')
    parser.add_argument('--format', nargs='+', choices=('png', 'html'),
                        default=['png', 'html'], help='files to write per sample')
    parser.add_argument('--size', nargs=2, type=int, metavar=('W', 'H'),
                        help='PNG size in pixels (default 800 400, 1200 400 for '
                        'reconstruction)')
    parser.add_argument('--split', choices=('test', 'val', 'train'), default=None,
                        help='dataloader to draw from (default: test, else val, else train)')
    parser.add_argument('--seed', type=int, default=0, help='mask seed of the first sample')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='detection: least score of a drawn box')
    parser.add_argument('--max-boxes', type=int, default=30,
                        help='detection: most predicted boxes drawn (highest scores)')
    parser.add_argument('--max-points', type=int, default=20000,
                        help='scenes: most points drawn (a fixed random subset)')
    parser.add_argument('--work-dir', help='the runner\'s log directory (default as '
                        'tools/test.py: ./work_dirs/<config name>)')
    parser.add_argument('--non-strict', action='store_true',
                        help='load a checkpoint that does not fit the model with a warning')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    args = parser.parse_args(argv)
    if args.num_samples < 1:
        parser.error('--num-samples must be at least 1')
    return args


# ---------------------------------------------------------------------- model / data
def build_runner(args: argparse.Namespace) -> Tuple[Runner, Config]:
    """The runner of ``tools/test.py`` (config, options, checks, work dir), one process,
    with the checkpoint loaded by ``load_checkpoint_checked``."""
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = Config.fromfile(args.config)
    cfg.launcher = 'none'
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_image_channel_order(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None
    cfg.resume = False
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    load_checkpoint_checked(runner, args.checkpoint, strict=not args.non_strict,
                            opt_out='tools/visualize.py --non-strict')
    return runner, cfg


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


def pick_dataloader_cfg(cfg: Config, split: Optional[str]) -> Tuple[str, dict]:
    splits = [split] if split else ['test', 'val', 'train']
    for name in splits:
        loader = cfg.get(f'{name}_dataloader', None)
        if loader is not None:
            loader = copy.deepcopy(loader)
            loader.update(batch_size=1, num_workers=0, persistent_workers=False)
            loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
            loader.pop('batch_sampler', None)
            return name, loader
    raise KeyError(f'the config defines no {" / ".join(s + "_dataloader" for s in splits)}')


def pick_mode(model) -> str:
    """detection (a bbox head), segmentation (a 3D segmentor), reconstruction (a masked
    point modelling algorithm), groups (another model with a point-patch backbone)."""
    from mmdet3d.models.segmentors import Base3DSegmentor
    if hasattr(model, 'bbox_head'):
        return 'detection'
    if isinstance(model, Base3DSegmentor):
        return 'segmentation'
    if hasattr(model, 'masked_forward'):
        return 'reconstruction'
    if hasattr(getattr(model, 'backbone', None), 'group'):
        return 'groups'
    raise ValueError(f'no visualisation mode fits a {type(model).__name__}; pass --mode')


def sample_name(sample, index: int) -> str:
    """A file-name-safe name of a data sample: its file's stem, else its sample index."""
    meta = sample.metainfo
    for key in ('lidar_path', 'pc_path', 'img_path'):
        path = meta.get(key)
        if isinstance(path, str) and path:
            stem = osp.splitext(osp.basename(path))[0]
            break
    else:
        stem = f'sample{meta.get("sample_idx", index)}'
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', str(stem))


def _numpy(x) -> np.ndarray:
    if hasattr(x, 'tensor'):  # mmdet3d boxes / points
        x = x.tensor
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ---------------------------------------------------------------------- one sample
def reconstruction_inputs(model, points: torch.Tensor) -> Tuple[object, str]:
    """One cloud (1, N, C) through ``masked_forward`` -> (``ReconstructionPoints``, note).
    A head that predicts points (Point-MAE, ReCon) gives the reconstruction; another (ACT's
    feature-distillation head) gives None and a note for the title."""
    from pt3kd_mm.models.heads import PointReconstructionHead
    out = model.masked_forward(points)
    predicted, note = None, ''
    if isinstance(model.head, PointReconstructionHead):
        predicted = _numpy(model.head.predict(out.masked_tokens)[0])
    else:
        note = (f'{type(model).__name__} predicts the teacher\'s features of the masked '
                f'groups, not points: groups and mask only')
    rec = assemble_reconstruction(_numpy(out.neighborhood[0]), _numpy(out.centers[0]),
                                  _numpy(out.mask[0]), predicted)
    return rec, note


def draw_sample(mode: str, model, batch: dict, dataset_meta: dict, index: int,
                args: argparse.Namespace, out: str, size: Tuple[int, int]) -> None:
    sample = batch['data_samples'][0]
    name = sample_name(sample, index)
    formats = args.format
    if mode in ('groups', 'reconstruction'):
        data = model.data_preprocessor(batch, False)
        points = data['inputs']['points']
        if mode == 'groups':
            neighborhood, centers, group_idx, _ = model.backbone.group(points)
            render_groups(_numpy(points[0]), _numpy(centers[0]), _numpy(group_idx[0]),
                          title=f'{name}: {type(model).__name__} groups', out=out,
                          formats=formats, size=size)
            return
        rec, note = reconstruction_inputs(model, points)
        title = f'{name}: {type(model).__name__}, mask ratio {model.mask_ratio:g}'
        render_reconstruction(_numpy(points[0])[:, :3], rec.visible, rec.masked,
                              rec.reconstructed, title=title + (f' ({note})' if note else ''),
                              out=out, formats=formats, size=size)
        return
    result = model.test_step(batch)[0]
    points = _numpy(batch['inputs']['points'][0])
    classes = list(dataset_meta.get('classes') or [])
    gt = sample.get('eval_ann_info') or {}
    if mode == 'detection':
        pred = result.pred_instances_3d
        scores, labels = _numpy(pred.scores_3d), _numpy(pred.labels_3d)
        keep = np.flatnonzero(scores >= args.score_thr)
        keep = keep[np.argsort(-scores[keep], kind='stable')][:args.max_boxes]
        gt_boxes = gt.get('gt_bboxes_3d')
        gt_boxes = np.zeros((0, 7)) if gt_boxes is None else _numpy(gt_boxes)
        gt_labels = np.asarray(gt.get('gt_labels_3d', np.zeros(0)), dtype=np.int64)
        render_boxes(points, gt_boxes, gt_labels, _numpy(pred.bboxes_3d)[keep], labels[keep],
                     scores[keep], classes,
                     title=f'{name}: {type(model).__name__}, scores >= {args.score_thr:g} '
                     f'(top {args.max_boxes})', out=out, formats=formats, size=size,
                     max_points=args.max_points)
        return
    pred = _numpy(result.pred_pts_seg.pts_semantic_mask)
    panels = {}
    if gt.get('pts_semantic_mask') is not None:
        panels['ground truth'] = np.asarray(gt['pts_semantic_mask'])
    panels['prediction'] = pred
    palette = dataset_meta.get('palette')
    if palette is None:
        palette = scannet_seg_palette() if len(classes) == 20 else index_colors(len(classes))
    render_segmentation(points, panels, palette, classes,
                        title=f'{name}: {type(model).__name__}', out=out, formats=formats,
                        size=size, max_points=args.max_points)


def main(argv: Optional[List[str]] = None) -> List[str]:
    """Returns the paths written."""
    args = parse_args(argv)
    runner, cfg = build_runner(args)
    model = unwrap(runner.model)
    model.eval()
    mode = args.mode or pick_mode(model)
    if mode == 'reconstruction' and not hasattr(model, 'masked_forward'):
        raise ValueError(f'--mode reconstruction needs a masked point modelling model '
                         f'(Point-MAE, ACT, ReCon), not a {type(model).__name__}')
    split, loader_cfg = pick_dataloader_cfg(cfg, args.split)
    loader = runner.build_dataloader(loader_cfg, seed=args.seed)
    meta = dict(getattr(loader.dataset, 'metainfo', None) or {})
    size = tuple(args.size) if args.size else DEFAULT_SIZE[mode]
    os.makedirs(args.show_dir, exist_ok=True)
    written = []
    runner.logger.info(f'visualize: mode {mode}, {args.num_samples} sample(s) of the {split} '
                       f'split -> {args.show_dir}')
    with torch.no_grad():
        for index, batch in enumerate(loader):
            if index >= args.num_samples:
                break
            torch.manual_seed(args.seed + index)
            stem = osp.join(args.show_dir, f'{index:03d}_'
                            f'{sample_name(batch["data_samples"][0], index)}_{mode}')
            draw_sample(mode, model, batch, meta, index, args, stem, size)
            written += [f'{stem}.{fmt}' for fmt in args.format]
    for path in written:
        print(f'wrote {path}')
    return written


if __name__ == '__main__':
    main()
