from .amp_optim_wrapper import DeviceAgnosticAmpOptimWrapper
from .ddp import DeviceAgnosticDDP
from .double_step_optim_wrapper import DoubleStepOptimWrapper
from .hooks import *  # noqa: F401,F403
from .launch import setup_cpu_distributed
from .loops import SVMProbeValLoop
from .schedulers import ReferenceCosineLR, reference_cosine_lr

__all__ = ['DeviceAgnosticAmpOptimWrapper', 'DeviceAgnosticDDP', 'setup_cpu_distributed',
           'ReferenceCosineLR', 'reference_cosine_lr', 'SVMProbeValLoop',
           'DoubleStepOptimWrapper']
