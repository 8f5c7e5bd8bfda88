from .act import ACT
from .act_autoencoder import ACTAutoencoder, kl_to_uniform
from .point_mae import PointMAE

__all__ = ['ACT', 'ACTAutoencoder', 'PointMAE', 'kl_to_uniform']
