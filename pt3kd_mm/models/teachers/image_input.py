"""What every image teacher shares: it normalises its own 0-255 input, given in a declared
channel order."""
from typing import Optional, Tuple

from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ('rgb', 'bgr')


def check_channel_order(order: str, owner: str) -> str:
    """``order`` if it is 'rgb' or 'bgr', else a ValueError naming ``owner``."""
    if order not in CHANNEL_ORDERS:
        raise ValueError(f"{owner}: channel_order must be 'rgb' or 'bgr', got {order!r}")
    return order


class NormalisesImages:
    """Image teachers normalise their input themselves (``mean`` / ``std`` in 0-1 units,
    ``image_size``), so one data pipeline (0-255 views) serves any image teacher and a swapped
    teacher can never see another's statistics.

    Attributes:
        channel_order: the channel order of the images the teacher is given ('rgb' or 'bgr');
            it must be the data pipeline's (``LoadRenderedImage(to_rgb=...)``), which
            ``pt3kd_mm.engine.config_checks.check_image_channel_order`` checks on a config.
        network_channel_order: the order the network must see; images in the other order are
            flipped before normalising. ``None``: the images reach the network in
            ``channel_order`` as given (``mean`` / ``std`` then apply to the channels in that
            order).
    """

    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    image_size: Tuple[int, int]
    channel_order: str = 'rgb'
    network_channel_order: Optional[str] = None

    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) images in 0-255 and ``channel_order`` -> ``(images / 255 - mean) /
        std`` in the network's channel order and dtype; other shapes or sizes raise an
        error."""
        owner = type(self).__name__
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'{owner} expects (B, 3, H, W) {self.channel_order.upper()} '
                             f'images, got {tuple(images.shape)}')
        if tuple(images.shape[-2:]) != tuple(self.image_size):
            raise ValueError(f'{owner} expects {tuple(self.image_size)} images, got '
                             f'{tuple(images.shape[-2:])}; resize / crop them in the pipeline')
        if self.network_channel_order not in (None, self.channel_order):
            images = images.flip(1)  # RGB <-> BGR
        images = images.to(next(self.network.parameters()).dtype)
        mean = images.new_tensor(self.mean).view(1, 3, 1, 1) * 255
        std = images.new_tensor(self.std).view(1, 3, 1, 1) * 255
        return (images - mean) / std
