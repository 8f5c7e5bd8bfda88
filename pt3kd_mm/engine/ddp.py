"""DDP wrapper that also works for CPU processes (gloo)."""
from mmengine.model import MMDistributedDataParallel
# mmengine's runner looks wrappers up in the root registry, not under the default scope
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` for a module on CPU.

    mmengine's runner always passes ``device_ids=[LOCAL_RANK]``, which PyTorch rejects for CPU
    modules; ``tools/train.py`` selects this wrapper when it trains on CPU processes.
    """

    def __init__(self, module, **kwargs) -> None:
        if next(module.parameters()).device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
