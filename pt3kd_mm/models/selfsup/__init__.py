from .act import ACT
from .act_autoencoder import ACTAutoencoder, kl_to_uniform
from .point_mae import MaskedForward, PointMAE
from .recon import ReCon

__all__ = ['ACT', 'ACTAutoencoder', 'MaskedForward', 'PointMAE', 'ReCon', 'kl_to_uniform']
