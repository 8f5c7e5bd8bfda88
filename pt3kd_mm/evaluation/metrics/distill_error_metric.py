"""Distillation error of a student on held-out samples (the teacher's targets it never saw)."""
from typing import Dict, List, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmdet3d.registry import METRICS


@METRICS.register_module()
class DistillationErrorMetric(BaseMetric):
    """Mean over samples of per-sample values a distiller's ``predict`` attaches to each data
    sample (metainfo), e.g. ``ConceptDistill``'s ``distill_mse`` (the mean squared error between
    the student's prediction and the teacher's target of that sample) and ``distill_cosine``
    (their cosine similarity, the target flattened).

    Args:
        keys: the per-sample values to average; a sample without one of them is an error that
            names the key (the model's ``predict`` did not compute it).
    """

    default_prefix = 'distill'

    def __init__(self, keys: Sequence[str] = ('distill_mse', 'distill_cosine'), **kwargs) -> None:
        super().__init__(**kwargs)
        if not keys:
            raise ValueError('DistillationErrorMetric: keys is empty')
        self.keys = tuple(keys)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            missing = [k for k in self.keys if k not in sample]
            if missing:
                raise KeyError(f'DistillationErrorMetric: the predicted sample carries no '
                               f'{missing} (it has {sorted(sample)}); the model\'s predict() '
                               f'must attach them, or set the metric\'s keys')
            self.results.append({k: float(sample[k]) for k in self.keys})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            raise ValueError('DistillationErrorMetric: no predictions to evaluate')
        return {k.replace('distill_', ''): float(np.mean([r[k] for r in results]))
                for k in self.keys}
