"""DistillationErrorMetric against its definition: the mean of per-sample values over every
processed sample (not the mean of batch means), with a clear error for a missing value."""
import numpy as np
import pytest

from pt3kd_mm.evaluation import DistillationErrorMetric


def test_mean_over_samples_not_batches():
    metric = DistillationErrorMetric()
    batches = [[dict(distill_mse=1.0, distill_cosine=0.5)],
               [dict(distill_mse=4.0, distill_cosine=-0.5),
                dict(distill_mse=7.0, distill_cosine=0.9)]]
    for samples in batches:
        metric.process(None, samples)
    out = metric.evaluate(3)
    assert out == pytest.approx({'distill/mse': 4.0, 'distill/cosine': np.mean([.5, -.5, .9])})
    # the mean of batch means would be 3.25: the metric weighs every sample once


def test_missing_value_names_the_key():
    metric = DistillationErrorMetric(keys=('distill_mse', ))
    with pytest.raises(KeyError, match="distill_mse"):
        metric.process(None, [dict(chamfer_l2=0.1)])
    with pytest.raises(ValueError, match='keys is empty'):
        DistillationErrorMetric(keys=())
