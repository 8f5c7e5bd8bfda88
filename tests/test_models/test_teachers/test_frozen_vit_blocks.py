import json

import open_clip
import pytest
import timm
import torch
from mmpretrain.models import VisionTransformer

from mmdet3d.registry import MODELS

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def tokens(width=32):
    return torch.randn(2, 5, width, generator=torch.Generator().manual_seed(0))


def test_timm_layout_matches_timm(tmp_path):
    torch.manual_seed(0)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0).eval()
    path = tmp_path / 'timm_vit.pth'
    torch.save(vit.state_dict(), path)
    blocks = MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(path), source='timm',
                               arch=TINY_ARCH))
    assert blocks.embed_dims == 32 and blocks.num_blocks == 2
    x = tokens()
    torch.testing.assert_close(blocks(x), vit.norm(vit.blocks(x)))


def test_mmpretrain_layout_and_grad_flow(tmp_path):
    torch.manual_seed(0)
    vit = VisionTransformer(arch=TINY_ARCH, patch_size=16, final_norm=True)
    vit.init_weights()
    vit.eval()
    path = tmp_path / 'mmpretrain_vit.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in vit.state_dict().items()}}, path)
    blocks = MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(path),
                               source='mmpretrain', arch=TINY_ARCH))
    x = tokens().requires_grad_()
    out = blocks(x)
    ref = x.detach()
    for layer in vit.layers:
        ref = layer(ref)
    torch.testing.assert_close(out, vit.ln1(ref))
    # gradients reach the input (prompts), never the frozen weights
    prompt = torch.nn.Parameter(torch.zeros(1, 5, 32))
    opt = torch.optim.SGD([prompt], lr=1.0)
    before = {k: v.clone() for k, v in blocks.network.state_dict().items()}
    blocks.train()
    assert not blocks.network.training
    for _ in range(2):
        loss = blocks(tokens() + prompt).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert prompt.abs().sum() > 0
    assert all(p.grad is None for p in blocks.network.parameters())
    assert all(torch.equal(before[k], v) for k, v in blocks.network.state_dict().items())


def test_open_clip_layout(tmp_path):
    cfg_dir = tmp_path / 'cfgs'
    cfg_dir.mkdir()
    (cfg_dir / 'pt3kd-tiny-vit.json').write_text(json.dumps(dict(
        embed_dim=16,
        vision_cfg=dict(image_size=32, layers=2, width=48, patch_size=16, head_width=24),
        text_cfg=dict(context_length=8, vocab_size=100, width=16, heads=2, layers=1))))
    open_clip.add_model_config(cfg_dir)
    torch.manual_seed(0)
    clip = open_clip.create_model('pt3kd-tiny-vit', pretrained=None).eval()
    path = tmp_path / 'open_clip.bin'
    torch.save(clip.state_dict(), path)
    blocks = MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(path),
                               source='open_clip', model_name='pt3kd-tiny-vit'))
    assert blocks.embed_dims == 48  # read from the model
    x = tokens(48)
    ref = x
    for blk in clip.visual.transformer.resblocks:
        ref = blk(ref)
    torch.testing.assert_close(blocks(x), clip.visual.ln_post(ref))


def test_missing_and_mismatched_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"teacher checkpoint '.*vit.pth' does not "
                       r'exist\. Save the 2D model once'):
        MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(tmp_path / 'vit.pth')))
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=1, num_heads=2, mlp_ratio=2.0)
    path = tmp_path / 'one_block.pth'
    torch.save(vit.state_dict(), path)
    with pytest.raises(KeyError, match=r'missing keys \[.blocks\.1\.ln1\.weight'):
        MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(path), source='timm',
                          arch=TINY_ARCH))


def test_vit_small_arch_from_timm_layout(tmp_path):
    torch.manual_seed(0)
    vit = timm.create_model('vit_small_patch16_384', pretrained=False).eval()
    path = tmp_path / 'vit_small.pth'
    torch.save(vit.state_dict(), path)
    blocks = MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(path), source='timm',
                               arch='small'))
    assert blocks.embed_dims == 384 and blocks.num_blocks == 12
    x = torch.randn(1, 10, 384)
    torch.testing.assert_close(blocks(x), vit.norm(vit.blocks(x)))


def test_wrong_arch_names_the_file(tmp_path):
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    path = tmp_path / 'tiny.pth'
    torch.save(vit.state_dict(), path)
    with pytest.raises(RuntimeError, match=r'tiny\.pth does not fit the teacher .*check its '
                       r'size / arch'):
        MODELS.build(dict(type='FrozenViTBlocks', checkpoint=str(path), source='timm',
                          arch='small'))
