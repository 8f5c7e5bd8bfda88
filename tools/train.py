"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT] |
--resume-or-start] [--amp] [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]``
(mmdet3d's conventions).

Every run gets ``RandomStateHook`` (RNG states in checkpoints, restored on resume) and
``ResumeCheckHook`` (a checkpoint to resume must be a training checkpoint of this model and
optimiser) in ``custom_hooks``, whatever its config inherits."""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from pt3kd_mm.datasets.dataloader_checks import check_batches_per_epoch
from pt3kd_mm.engine.launch import setup_cpu_distributed, teardown_distributed
from pt3kd_mm.engine.config_checks import check_image_channel_order, unknown_option_keys


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
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest checkpoint '
                        'in the work dir if no path is given (an error when there is none)')
    resume.add_argument('--resume-or-start', action='store_true',
                        help='resume from the latest checkpoint in the work dir, or start a '
                        'new run there (with a warning) when it has none, e.g. for jobs '
                        'that are requeued after preemption')
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


#: hooks every run gets (appended to custom_hooks unless the config lists them already)
DEFAULT_CUSTOM_HOOKS = (dict(type='RandomStateHook'), dict(type='ResumeCheckHook'))


def add_default_hooks(cfg: Config) -> None:
    """Append :data:`DEFAULT_CUSTOM_HOOKS` missing from ``cfg.custom_hooks``."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    listed = {h.get('type') if isinstance(h, dict) else type(h).__name__ for h in hooks}
    listed |= {getattr(t, '__name__', t) for t in listed}
    hooks += [dict(h) for h in DEFAULT_CUSTOM_HOOKS if h['type'] not in listed]
    cfg.custom_hooks = hooks


def warn_unknown_options(keys_before, options: dict) -> None:
    """A loud warning for each ``--cfg-options`` key that nothing reads (e.g. a typo)."""
    for option, hint in unknown_option_keys(keys_before, options):
        print_log(f'--cfg-options {option}: {option.split(".")[0]!r} is not a key of the '
                  f'config nor one the runner reads, so this option has no effect; {hint}',
                  logger='current', level=logging.WARNING)


def resolve_resume(resume, resume_or_start: bool, work_dir: str):
    """The checkpoint to resume from (``None``: start a new run).

    ``resume``: ``None``, ``'auto'`` (the latest checkpoint in ``work_dir``, which must exist)
    or a path (which must exist); ``resume_or_start``: like ``'auto'`` but starts a new run
    when ``work_dir`` has no checkpoint."""
    if resume is None and not resume_or_start:
        return None
    if resume not in (None, 'auto'):
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume {resume}: no such checkpoint file; give the '
                                    'path of a training checkpoint (e.g. WORK_DIR/epoch_N.pth)')
        return resume
    latest = find_latest_checkpoint(work_dir)
    if latest is None:
        if resume_or_start:
            print_log(f'--resume-or-start: no checkpoint to resume in {work_dir} (no '
                      'last_checkpoint file): starting a new run', logger='current',
                      level=logging.WARNING)
            return None
        raise FileNotFoundError(
            f'--resume: nothing to resume in the work dir {work_dir} (no last_checkpoint '
            'file). Check --work-dir (or the config\'s work_dir), pass --resume PATH, or use '
            '--resume-or-start to start a new run when there is nothing to resume.')
    if not osp.isfile(latest):
        raise FileNotFoundError(
            f'--resume: {osp.join(work_dir, "last_checkpoint")} names {latest}, which does '
            'not exist; pass --resume PATH with an existing checkpoint')
    return latest


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        keys_before = set(cfg.keys())
        cfg.merge_from_dict(args.cfg_options)
        warn_unknown_options(keys_before, args.cfg_options)
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

    resume_from = resolve_resume(args.resume, args.resume_or_start, cfg.work_dir)
    if resume_from is not None:
        cfg.resume = True
        cfg.load_from = resume_from
    add_default_hooks(cfg)

    # CPU-only processes: gloo process group and a DDP wrapper without device_ids
    setup_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    check_batches_per_epoch(runner)  # a dataset smaller than one batch: a clear error
    runner.train()
    teardown_distributed()


if __name__ == '__main__':
    main()
