from .amp_optim_wrapper import DeviceAgnosticAmpOptimWrapper
from .ddp import DeviceAgnosticDDP
from .hooks import *  # noqa: F401,F403
from .launch import setup_cpu_distributed

__all__ = ['DeviceAgnosticAmpOptimWrapper', 'DeviceAgnosticDDP', 'setup_cpu_distributed']
