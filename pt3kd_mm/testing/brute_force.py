"""Slow, obviously correct references for tests."""
import numpy as np
from torch import Tensor


def brute_force_interpolate(xyz: Tensor, centers: Tensor, features: Tensor, k: int = 3,
                            eps: float = 1e-8) -> np.ndarray:
    """Loop over every point: sort all centres by squared distance, keep k, weight by
    1 / (d^2 + eps) normalised (the reference's PointNetFeaturePropagation).

    xyz (B, N, 3), centers (B, S, 3), features (B, C, S) -> (B, C, N) float64."""
    xyz, centers, features = (t.detach().double().numpy() for t in (xyz, centers, features))
    batch, channels, _ = features.shape
    out = np.zeros((batch, channels, xyz.shape[1]))
    for b in range(batch):
        for n in range(xyz.shape[1]):
            d2 = ((centers[b] - xyz[b, n])**2).sum(-1)
            order = np.argsort(d2, kind='stable')[:k]
            w = 1.0 / (d2[order] + eps)
            w = w / w.sum()
            out[b, :, n] = (features[b][:, order] * w).sum(-1)
    return out
