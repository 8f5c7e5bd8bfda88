from .point_cloud_preprocessor import PointCloudPreprocessor

__all__ = ['PointCloudPreprocessor']
