"""Masked-group reconstruction quality of a masked point model on held-out clouds."""
from typing import Dict, List, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmdet3d.registry import METRICS


def mean_chamfer(per_cloud: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Average the per-cloud ``chamfer_l2`` / ``chamfer_l1`` values; reported x1000 as the
    reference papers do."""
    if not per_cloud:
        raise ValueError('no predictions to evaluate')
    return {
        f'{key}_x1000': float(np.mean([r[key] for r in per_cloud]) * 1000)
        for key in ('chamfer_l2', 'chamfer_l1')
    }


@METRICS.register_module()
class MaskedReconstructionMetric(BaseMetric):
    """CD-L2 / CD-L1 (x1000) between predicted and true masked groups, averaged over clouds.

    Reads ``chamfer_l2`` / ``chamfer_l1`` that ``PointMAE.predict`` attaches to each sample.
    """

    default_prefix = 'recon'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append(
                dict(chamfer_l2=sample['chamfer_l2'], chamfer_l1=sample['chamfer_l1']))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        return mean_chamfer(results)
