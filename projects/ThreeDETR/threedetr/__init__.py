"""3DETR for mmdet3d with pt3kd_mm encoders; importing this package registers its modules
(``custom_imports=dict(imports=['projects.ThreeDETR.threedetr'])``)."""
import pt3kd_mm  # noqa: F401  (registers the point encoders a config may name)

from .box_coder import ThreeDETRBBoxCoder
from .matcher import HungarianMatcher3D
from .threedetr import ThreeDETR
from .threedetr_encoder import ThreeDETREncoder
from .threedetr_head import ThreeDETRHead

__all__ = ['ThreeDETR', 'ThreeDETREncoder', 'ThreeDETRHead', 'ThreeDETRBBoxCoder',
           'HungarianMatcher3D']
