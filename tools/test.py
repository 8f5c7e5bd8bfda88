"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
[--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from pt3kd_mm.engine.launch import setup_cpu_distributed, teardown_distributed
from pt3kd_mm.engine.config_checks import check_image_channel_order


def parse_args():
    parser = argparse.ArgumentParser(description='Test (evaluate) a pt3kd_mm checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
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
    cfg.load_from = args.checkpoint
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.test()
    teardown_distributed()


if __name__ == '__main__':
    main()
