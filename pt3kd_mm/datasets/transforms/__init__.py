from .formatting import PackPointClsInputs
from .frame_pairs import (CentrePoints, LoadFrameImage, ProjectPointsToImage,
                          ResizeCropFrameImage)
from .image_text import RECON_TEMPLATES, LoadRenderedImage, RandomTextPrompt, recon_prompts
from .loading import LoadPointCloudNpy
from .object_transforms import (FPSRandomSubsample, NormalizeToUnitSphere, PointSubsample,
                                RandomRotateUpAxis, RandomScaleTranslate)
from .part_seg import LoadShapeNetPartPoints
from .teacher_features import LoadTeacherFeatures

__all__ = [
    'LoadPointCloudNpy', 'NormalizeToUnitSphere', 'PointSubsample', 'RandomRotateUpAxis',
    'RandomScaleTranslate', 'LoadRenderedImage', 'RandomTextPrompt', 'RECON_TEMPLATES',
    'recon_prompts', 'LoadTeacherFeatures', 'FPSRandomSubsample', 'PackPointClsInputs',
    'LoadShapeNetPartPoints', 'LoadFrameImage', 'ResizeCropFrameImage', 'ProjectPointsToImage',
    'CentrePoints'
]
