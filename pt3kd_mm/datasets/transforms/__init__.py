from .loading import LoadPointCloudNpy
from .object_transforms import (NormalizeToUnitSphere, PointSubsample, RandomRotateUpAxis,
                                RandomScaleTranslate)

__all__ = [
    'LoadPointCloudNpy', 'NormalizeToUnitSphere', 'PointSubsample', 'RandomRotateUpAxis',
    'RandomScaleTranslate'
]
