from .ddp import DeviceAgnosticDDP
from .launch import setup_cpu_distributed

__all__ = ["DeviceAgnosticDDP", "setup_cpu_distributed"]
