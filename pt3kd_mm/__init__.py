"""pt3kd_mm: point-cloud transformer pre-training with 2D knowledge distillation, as an
OpenMMLab / MMDetection3D plugin. Importing the package registers its modules into mmdet3d's
registries (load it in a config with ``custom_imports=dict(imports=['pt3kd_mm'])``)."""
from .utils.checkpoint import register_checkpoint_loader
from .version import __version__

register_checkpoint_loader()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
