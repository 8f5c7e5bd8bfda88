from .masked_reconstruction_metric import MaskedReconstructionMetric, mean_chamfer

__all__ = ['MaskedReconstructionMetric', 'mean_chamfer']
