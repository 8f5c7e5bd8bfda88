from .svm_probe_loop import SVMProbeValLoop

__all__ = ['SVMProbeValLoop']
