"""Inverse-distance feature propagation against brute force (the reference's formula)."""
import numpy as np
import pytest
import torch

from pt3kd_mm.models.layers import CenterFeaturePropagation
from pt3kd_mm.ops import three_nn, three_nn_interpolate
from pt3kd_mm.testing import brute_force_interpolate


def test_three_nn_matches_sorting():
    g = torch.Generator().manual_seed(0)
    xyz, centers = torch.rand(2, 50, 3, generator=g), torch.rand(2, 9, 3, generator=g)
    d2, idx = three_nn(xyz, centers)
    full = ((xyz[:, :, None] - centers[:, None])**2).sum(-1)
    ref_d2, ref_idx = full.sort(dim=-1)
    assert torch.equal(idx, ref_idx[..., :3])
    torch.testing.assert_close(d2, ref_d2[..., :3])


def test_interpolation_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    xyz, centers = torch.rand(2, 40, 3, generator=g), torch.rand(2, 7, 3, generator=g)
    features = torch.randn(2, 5, 7, generator=g)
    out = three_nn_interpolate(xyz, centers, features)
    assert out.shape == (2, 5, 40)
    np.testing.assert_allclose(out.double().numpy(), brute_force_interpolate(
        xyz, centers, features), rtol=1e-5, atol=1e-6)


def test_hand_example_and_coinciding_point():
    # centres at x = 0, 1, 3, 10 on a line; the point x = 2 has squared distances 4, 1, 1
    centers = torch.tensor([[[0., 0, 0], [1, 0, 0], [3, 0, 0], [10, 0, 0]]])
    features = torch.tensor([[[1., 2., 4., 100.]]])  # (1, C=1, S=4)
    xyz = torch.tensor([[[2., 0, 0], [3, 0, 0]]])
    out = three_nn_interpolate(xyz, centers, features)
    # weights 1/4, 1, 1 -> (0.25 * 1 + 2 + 4) / 2.25
    assert out[0, 0, 0].item() == pytest.approx((0.25 * 1 + 2 + 4) / 2.25, rel=1e-6)
    # a point on a centre takes that centre's feature (weight 1e8 against ~1)
    assert out[0, 0, 1].item() == pytest.approx(4.0, rel=1e-6)


def test_single_centre_is_copied_and_gradient_flows():
    features = torch.randn(2, 3, 1, requires_grad=True)
    out = three_nn_interpolate(torch.rand(2, 6, 3), torch.rand(2, 1, 3), features)
    assert torch.equal(out, features.expand(2, 3, 6))
    g = torch.Generator().manual_seed(2)
    features = torch.randn(1, 4, 5, generator=g, requires_grad=True)
    three_nn_interpolate(torch.rand(1, 8, 3, generator=g), torch.rand(1, 5, 3, generator=g),
                         features).sum().backward()
    # every point's weights sum to 1, so the gradient of the sum totals the number of points
    assert features.grad.sum().item() == pytest.approx(4 * 8, rel=1e-5)


def test_errors():
    with pytest.raises(ValueError, match='2 centres cannot give 3'):
        three_nn(torch.rand(1, 4, 3), torch.rand(1, 2, 3))
    with pytest.raises(ValueError, match=r'features must be \(B, C, S\)'):
        three_nn_interpolate(torch.rand(1, 4, 3), torch.rand(1, 5, 3), torch.rand(1, 2, 4))


def test_layer_is_interpolation_then_conv_bn_relu():
    g = torch.Generator().manual_seed(3)
    layer = CenterFeaturePropagation(3 + 6, (8, 4)).eval()
    for bn in layer.mlp_bns:  # non-trivial running statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    xyz, centers = torch.rand(2, 30, 3, generator=g), torch.rand(2, 6, 3, generator=g)
    feats = torch.randn(2, 6, 6, generator=g)
    out = layer(xyz, centers, xyz.transpose(1, 2), feats)
    x = torch.cat([xyz.transpose(1, 2),
                   torch.from_numpy(brute_force_interpolate(xyz, centers, feats)).float()], 1)
    for conv, bn in zip(layer.mlp_convs, layer.mlp_bns):
        y = torch.einsum('oc,bcn->bon', conv.weight[..., 0], x) + conv.bias[:, None]
        y = (y - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps)
        x = torch.relu(y * bn.weight[:, None] + bn.bias[:, None])
    torch.testing.assert_close(out, x, rtol=1e-4, atol=1e-5)
    assert out.shape == (2, 4, 30) and layer.out_channels == 4
    with pytest.raises(ValueError, match='in_channels=9 but the skip'):
        layer(xyz, centers, None, feats)


def test_gradient_matches_a_dense_weight_matrix():
    """d out / d features through the gather equals the dense (N, S) interpolation matrix's."""
    g = torch.Generator().manual_seed(7)
    xyz, centers = torch.rand(2, 30, 3, generator=g), torch.rand(2, 6, 3, generator=g)
    features = torch.randn(2, 4, 6, generator=g, requires_grad=True)
    upstream = torch.randn(2, 4, 30, generator=g)
    (three_nn_interpolate(xyz, centers, features) * upstream).sum().backward()
    d2, idx = three_nn(xyz, centers)
    w = 1.0 / (d2 + 1e-8)
    w = w / w.sum(-1, keepdim=True)
    dense = torch.zeros(2, 30, 6).scatter_(2, idx, w)  # (B, N, S)
    torch.testing.assert_close(features.grad, upstream @ dense)
