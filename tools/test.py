"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
[--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}] [--non-strict]``.

The checkpoint must fit the config's model: a tensor of another shape or a model key the
checkpoint lacks stops the test with an error naming the file and the keys (keys the model
does not use are a warning). ``--non-strict`` (for experts) loads what fits and warns instead,
as mmengine does."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from pt3kd_mm.engine.launch import setup_cpu_distributed, teardown_distributed
from pt3kd_mm.engine.config_checks import check_image_channel_order
from pt3kd_mm.utils.checkpoint import load_checkpoint_checked


class CheckedLoadHook(Hook):
    """Loads the checkpoint under test with ``load_checkpoint_checked`` in ``before_run``,
    after the other hooks' ``before_run`` (registered with the lowest priority), where the
    runner would load ``load_from``."""

    def __init__(self, filename: str, strict: bool = True) -> None:
        self.filename, self.strict = filename, strict

    def before_run(self, runner) -> None:
        load_checkpoint_checked(runner, self.filename, strict=self.strict)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (evaluate) a pt3kd_mm checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--non-strict', action='store_true',
                        help='load a checkpoint that does not fit the model (size mismatches, '
                        'missing keys) with a warning instead of an error')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_image_channel_order(cfg)  # pipelines vs image teachers
    if 'test_dataloader' not in cfg or 'test_evaluator' not in cfg:
        raise KeyError(f'{args.config} defines no test_dataloader / test_evaluator')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded, checked, by CheckedLoadHook
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.register_hook(CheckedLoadHook(args.checkpoint, strict=not args.non_strict),
                         priority='LOWEST')
    runner.test()
    teardown_distributed()


if __name__ == '__main__':
    main()
