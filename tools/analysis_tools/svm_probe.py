"""Linear-SVM probe of encoders: ``python tools/analysis_tools/svm_probe.py CONFIG [CKPT ...]
[--random-init] [--work-dir DIR] [--out JSON] [--cfg-options k=v ...] [--launcher ...]``.

Encodes the config's probe splits (``val_cfg.svm_train_dataloader``: fit, ``val_dataloader``:
score) with the encoder of each checkpoint (a training checkpoint, keys ``backbone.*``, or an
exported encoder) and, with ``--random-init``, with a freshly initialised encoder (the
model's own ``init_weights`` under the config's seed: what pre-training starts from); prints
one markdown table of SVM accuracies. The config needs the probe of
``configs/_base_/datasets/modelnet40_svm_probe.py`` (every pre-training config has it).
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import broadcast, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner, set_random_seed
from torch import nn

from pt3kd_mm.engine.launch import setup_cpu_distributed
from pt3kd_mm.utils.checkpoint import load_local_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Linear-SVM probe of pre-trained encoders')
    parser.add_argument('config', help='a config with the SVM probe (val_cfg SVMProbeValLoop)')
    parser.add_argument('checkpoints', nargs='*', help='training checkpoints or exported '
                        'encoders to probe')
    parser.add_argument('--random-init', action='store_true',
                        help='also probe a randomly initialised encoder')
    parser.add_argument('--work-dir', help='where the logs go (default work_dirs/svm_probe/'
                        '<config name>)')
    parser.add_argument('--out', help='also write the rows as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if not args.checkpoints and not args.random_init:
        parser.error('give at least one checkpoint or --random-init')
    for path in args.checkpoints:
        if not osp.isfile(path):
            parser.error(f'checkpoint {path} does not exist')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def encoder_state(path: str) -> Dict[str, torch.Tensor]:
    """The backbone weights of a training checkpoint (``backbone.*`` keys) or of an exported
    encoder (keys without the prefix)."""
    ckpt = load_local_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    if any(k.startswith('backbone.') for k in state):
        return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return state


def load_encoder(backbone: nn.Module, path: str) -> None:
    """Load ``path``'s encoder weights into ``backbone`` strictly (an error names what does
    not match)."""
    hint = ('set the model sizes of the checkpoint in the config, e.g. --cfg-options '
            'model.backbone.embed_dims=...')
    try:
        missing, unexpected = backbone.load_state_dict(encoder_state(path), strict=False)
    except RuntimeError as err:  # shape mismatches
        raise RuntimeError(f'{path} does not fit the config\'s encoder '
                           f'({type(backbone).__name__}; {hint}): {err}') from None
    if missing or unexpected:
        raise KeyError(f'{path} does not fit the config\'s encoder '
                       f'({type(backbone).__name__}): missing {sorted(missing)[:8]}, '
                       f'unexpected {sorted(unexpected)[:8]} ({hint})')


def random_init(backbone: nn.Module, seed: int) -> None:
    """The encoder's own initialisation drawn under ``seed``, the same on every rank."""
    set_random_seed(seed)
    backbone.init_weights()
    for tensor in backbone.state_dict().values():
        broadcast(tensor, src=0)


def format_table(rows: List[dict], cfg: Config, num_train: int, num_test: int) -> str:
    c = cfg.val_evaluator.get('C', 1.0)
    std = ', standardised' if cfg.val_evaluator.get('standardize') else ''
    lines = [f'Linear-SVM probe (LinearSVC C={c}, feature {cfg.val_cfg.get("feature")}{std}): '
             f'fit on {num_train} clouds, scored on {num_test} ({cfg.filename})',
             '| encoder | SVM accuracy (%) |', '| --- | --- |']
    lines += [f'| {r["encoder"]} | {r["accuracy"]:.2f} |' for r in rows]
    return '\n'.join(lines)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    val_cfg = cfg.get('val_cfg') or {}
    if val_cfg.get('type') != 'SVMProbeValLoop' or not cfg.get('val_dataloader'):
        raise KeyError(f'{args.config} has no SVM probe (val_cfg type SVMProbeValLoop with '
                       f'val_dataloader / val_evaluator); inherit '
                       f'configs/_base_/datasets/modelnet40_svm_probe.py')
    cfg.work_dir = args.work_dir or osp.join(
        'work_dirs', 'svm_probe', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from, cfg.resume = None, False
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    loop = runner.val_loop
    runner.call_hook('before_run')
    random_rows, rows = [], []
    if args.random_init:  # first: mmengine initialises a module once
        random_init(model.backbone, runner.seed)
        metrics = loop.run()
        random_rows.append(dict(encoder=f'random init (seed {runner.seed})', checkpoint=None,
                                accuracy=metrics['svm/accuracy']))
    for path in args.checkpoints:
        load_encoder(model.backbone, path)
        metrics = loop.run()
        rows.append(dict(encoder=path, checkpoint=osp.abspath(path),
                         accuracy=metrics['svm/accuracy']))
    rows += random_rows
    runner.call_hook('after_run')
    num_train, num_test = len(loop.svm_train_dataloader.dataset), len(loop.dataloader.dataset)
    if is_main_process():
        print(format_table(rows, cfg, num_train, num_test), flush=True)
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(dict(config=args.config, num_train=num_train, num_test=num_test,
                               C=cfg.val_evaluator.get('C', 1.0),
                               standardize=cfg.val_evaluator.get('standardize', False),
                               feature=cfg.val_cfg.get('feature'), rows=rows), f, indent=1)
    return rows


if __name__ == '__main__':
    main()
