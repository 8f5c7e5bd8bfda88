from .masked_reconstruction_metric import MaskedReconstructionMetric, mean_chamfer
from .zero_shot_metric import (ZeroShotAccuracy, class_text_embeddings, zero_shot_classify)

__all__ = [
    'MaskedReconstructionMetric', 'ZeroShotAccuracy', 'class_text_embeddings', 'mean_chamfer',
    'zero_shot_classify'
]
