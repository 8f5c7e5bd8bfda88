from .act import ACT
from .act_autoencoder import ACTAutoencoder, kl_to_uniform
from .concept_distill import ConceptDistill, EncodedClouds, per_sample_errors
from .point_mae import MaskedForward, PointMAE
from .recon import ReCon

__all__ = ['ACT', 'ACTAutoencoder', 'ConceptDistill', 'EncodedClouds', 'MaskedForward', 'PointMAE',
           'ReCon', 'kl_to_uniform', 'per_sample_errors']
