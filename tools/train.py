"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
[--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]`` (mmdet3d's conventions)."""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from pt3kd_mm.engine.launch import setup_cpu_distributed, teardown_distributed
from pt3kd_mm.engine.config_checks import check_image_channel_order


def parse_args():
    parser = argparse.ArgumentParser(description='Train a pt3kd_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='automatic mixed precision: fp16 autocast with a dynamic loss '
                        'scale on GPUs (or optim_wrapper.dtype), bf16 autocast on CPU')
    parser.add_argument('--sync_bn', choices=['none', 'torch', 'mmcv'], default='none',
                        help='convert all BatchNorm layers in the model to SyncBN')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch / '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest checkpoint '
                        'in the work dir if no path is given')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, e.g. train_cfg.max_epochs=5')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


AMP_WRAPPERS = ('AmpOptimWrapper', 'DeviceAgnosticAmpOptimWrapper')


def enable_amp(cfg: Config) -> None:
    """``--amp``: mixed precision on whatever device trains, with
    ``DeviceAgnosticAmpOptimWrapper`` (mmengine's ``AmpOptimWrapper`` on GPUs: fp16 with a
    dynamic loss scale, or the config's ``optim_wrapper.dtype``; bf16 autocast without loss
    scaling on CPU, where mmengine's wrapper cannot be built)."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in AMP_WRAPPERS:
        print_log('AMP training is already enabled in your config.', logger='current',
                  level=logging.WARNING)
    elif wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type = OptimWrapper, got {wrapper}')
    cfg.optim_wrapper.type = 'DeviceAgnosticAmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_image_channel_order(cfg)  # pipelines vs image teachers

    # work_dir: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        enable_amp(cfg)

    if args.sync_bn != 'none':
        cfg.sync_bn = args.sync_bn

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr \
                and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or "auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your configuration file.')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    # CPU-only processes: gloo process group and a DDP wrapper without device_ids
    setup_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    teardown_distributed()


if __name__ == '__main__':
    main()
