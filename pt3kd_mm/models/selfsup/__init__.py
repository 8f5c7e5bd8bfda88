from .act_autoencoder import ACTAutoencoder, kl_to_uniform
from .point_mae import PointMAE

__all__ = ['ACTAutoencoder', 'PointMAE', 'kl_to_uniform']
