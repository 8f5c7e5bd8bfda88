"""Deterministic colours: one per group / class index, and mmdet3d's ScanNet palette."""
import colorsys
from typing import List, Sequence, Tuple

import numpy as np

RGB = Tuple[int, int, int]
GREY: RGB = (190, 190, 190)
DARK: RGB = (40, 40, 40)
BLUE: RGB = (31, 119, 180)
ORANGE: RGB = (255, 127, 14)
GREEN: RGB = (44, 160, 44)
RED: RGB = (214, 39, 40)


def index_colors(num: int) -> List[RGB]:
    """``num`` distinct, deterministic colours (hues stepped by the golden ratio, so
    neighbouring indices differ strongly; alternating lightness)."""
    colors = []
    for i in range(num):
        hue = (i * 0.618033988749895) % 1.0
        light = 0.45 if i % 2 else 0.6
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
        colors.append((int(round(r * 255)), int(round(g * 255)), int(round(b * 255))))
    return colors


def scannet_seg_palette() -> List[RGB]:
    """The 20 colours of mmdet3d's ``ScanNetSegDataset.METAINFO['palette']``."""
    from mmdet3d.datasets import ScanNetSegDataset
    return [tuple(int(c) for c in rgb) for rgb in ScanNetSegDataset.METAINFO['palette']]


def scannet_seg_classes() -> Tuple[str, ...]:
    from mmdet3d.datasets import ScanNetSegDataset
    return tuple(ScanNetSegDataset.METAINFO['classes'])


def label_colors(labels: np.ndarray, palette: Sequence[RGB],
                 fallback: RGB = GREY) -> np.ndarray:
    """(N,) integer labels -> (N, 3) uint8 colours; labels outside the palette (ignore
    index, -1) get ``fallback``."""
    table = np.array(list(palette) + [fallback], dtype=np.uint8).reshape(-1, 3)
    labels = np.asarray(labels).astype(np.int64)
    idx = np.where((labels >= 0) & (labels < len(palette)), labels, len(palette))
    return table[idx]
