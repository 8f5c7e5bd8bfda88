from .distill_error_metric import DistillationErrorMetric
from .masked_reconstruction_metric import MaskedReconstructionMetric, mean_chamfer
from .part_seg_metric import ShapeNetPartMetric, shape_part_iou, summarize_part_ious
from .svm_probe_metric import SVMProbeAccuracy, linear_svm_accuracy
from .zero_shot_metric import (ZeroShotAccuracy, class_text_embeddings, zero_shot_classify)

__all__ = [
    'DistillationErrorMetric', 'MaskedReconstructionMetric', 'SVMProbeAccuracy',
    'ZeroShotAccuracy',
    'linear_svm_accuracy', 'class_text_embeddings', 'mean_chamfer',
    'zero_shot_classify', 'ShapeNetPartMetric', 'shape_part_iou', 'summarize_part_ious'
]
