from .image_text import RECON_TEMPLATES, LoadRenderedImage, RandomTextPrompt, recon_prompts
from .loading import LoadPointCloudNpy
from .object_transforms import (NormalizeToUnitSphere, PointSubsample, RandomRotateUpAxis,
                                RandomScaleTranslate)
from .teacher_features import LoadTeacherFeatures

__all__ = [
    'LoadPointCloudNpy', 'NormalizeToUnitSphere', 'PointSubsample', 'RandomRotateUpAxis',
    'RandomScaleTranslate', 'LoadRenderedImage', 'RandomTextPrompt', 'RECON_TEMPLATES',
    'recon_prompts', 'LoadTeacherFeatures'
]
