from .point_classifier import PointClassifier
from .voting import augment_clouds, vote_logits

__all__ = ['PointClassifier', 'augment_clouds', 'vote_logits']
