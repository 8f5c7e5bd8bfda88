"""ReCon's renormalising block and the decoder's reference initialisation."""
import math

import torch
import torch.nn.functional as F

from mmdet3d.registry import MODELS
from pt3kd_mm.models.layers import PosAddedTransformer, RenormResidualBlock


def test_renorm_block_restarts_the_residual_from_the_normalised_tensor():
    torch.manual_seed(0)
    block = RenormResidualBlock(embed_dims=16, num_heads=2, feedforward_channels=32,
                                qkv_bias=False).eval()
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        h = F.layer_norm(x, (16, ), block.ln1.weight, block.ln1.bias)
        qkv = F.linear(h, block.attn.qkv.weight, block.attn.qkv.bias).reshape(2, 5, 3, 2, 8)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) / math.sqrt(8)).softmax(-1)
        h = h + F.linear((attn @ v).transpose(1, 2).reshape(2, 5, 16), block.attn.proj.weight,
                         block.attn.proj.bias)
        h = F.layer_norm(h, (16, ), block.ln2.weight, block.ln2.bias)
        fc1, fc2 = block.ffn.layers[0][0], block.ffn.layers[1]
        expected = h + fc2(F.gelu(fc1(h)))
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
        # and it is not the pre-norm block of the same weights
        prenorm = PosAddedTransformer(16, 1, 2, 2.0, drop_path_rate=0.0).blocks[0].eval()
        prenorm.load_state_dict(block.state_dict())
        assert (prenorm(x) - expected).abs().max() > 1e-2


def test_decoder_initialisation_is_the_reference():
    """Blocks and final norm: xavier uniform Linear, zero bias (the reference decoder's
    _init_weights); the position MLP keeps PyTorch's default Linear init."""
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='PointMAEDecoder', embed_dims=64, depth=2, num_heads=4))
    neck.init_weights()
    fc1 = neck.transformer.blocks[0].ffn.layers[0][0]  # (256, 64)
    bound = math.sqrt(6 / (64 + 256))
    assert fc1.weight.abs().max() <= bound and fc1.weight.abs().max() > 0.9 * bound
    assert fc1.bias.abs().max() == 0
    assert neck.transformer.blocks[1].attn.qkv.weight.std() > 0.05  # not trunc normal 0.02
    pos = neck.pos_embed[0]  # Linear(3, 128): PyTorch default, bias uniform(+-1/sqrt(3))
    assert pos.bias.abs().max() > 0.2 and pos.weight.abs().max() <= 1 / math.sqrt(3)
    assert 0.015 < neck.mask_token.std() < 0.025
