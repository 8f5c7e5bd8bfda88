"""Multi-process training on machines without GPUs."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` / ``slurm`` / ``mpi`` runs train on CPU processes.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and defaults to NCCL, and its DDP
    wrapper passes ``device_ids``; all three fail without a GPU. When no GPU is visible this
    initialises the process group with gloo from the launcher's environment (torchrun /
    ``dist_train.sh`` set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT) and selects
    ``DeviceAgnosticDDP``. With GPUs it does nothing.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.launcher == 'pytorch' and not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(f'--launcher pytorch needs {key} in the environment; start '
                                   f'the job with tools/dist_train.sh or torchrun')
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='DeviceAgnosticDDP')
    if wrapper.get('type') == 'MMDistributedDataParallel':
        wrapper['type'] = 'DeviceAgnosticDDP'
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper


def teardown_distributed() -> None:
    """End a multi-process run cleanly: wait for every rank, then destroy the process group.

    Left to interpreter shutdown, gloo's background threads can be torn down while still
    joinable ("terminate called without an active exception", SIGABRT after a finished run)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
