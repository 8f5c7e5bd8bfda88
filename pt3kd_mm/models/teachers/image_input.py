"""What every image teacher shares: it normalises its own RGB 0-255 input."""
from typing import Tuple

from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class NormalisesImages:
    """Image teachers normalise their input themselves (``mean`` / ``std`` in 0-1 units,
    ``image_size``), so one data pipeline (RGB, 0-255) serves any image teacher and a swapped
    teacher can never see another's statistics."""

    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    image_size: Tuple[int, int]

    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in 0-255 -> ``(images / 255 - mean) / std`` in the network's
        dtype; other shapes or sizes raise an error."""
        owner = type(self).__name__
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'{owner} expects (B, 3, H, W) RGB images, got '
                             f'{tuple(images.shape)}')
        if tuple(images.shape[-2:]) != tuple(self.image_size):
            raise ValueError(f'{owner} expects {tuple(self.image_size)} images, got '
                             f'{tuple(images.shape[-2:])}; resize / crop them in the pipeline')
        images = images.to(next(self.network.parameters()).dtype)
        mean = images.new_tensor(self.mean).view(1, 3, 1, 1) * 255
        std = images.new_tensor(self.std).view(1, 3, 1, 1) * 255
        return (images - mean) / std
