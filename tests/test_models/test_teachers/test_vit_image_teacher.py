"""ViTImageTeacher's reference ReCon target (pre-logits + Tanh) and input convention (BGR views
normalised with ImageNet's statistics), and the CLIP image teacher's channel order."""
import os.path as osp

import pytest
import timm
import torch
from mmengine.config import Config

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO, random_clip

TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def images(n=2, size=32):
    """0-255 views in BGR, as LoadRenderedImage(to_rgb=False) gives them."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255


def timm_vit():
    torch.manual_seed(0)
    return timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
        num_classes=10).eval()


def vit_teacher(path, **kwargs):
    cfg = dict(type='ViTImageTeacher', checkpoint=str(path), arch=TINY_VIT, img_size=32,
               patch_size=8, source='timm', precision='fp32')
    cfg.update(kwargs)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def in21k_layout(tmp_path_factory):
    """A random timm ViT state dict in the layout of Google's original in21k weights
    (jx_vit_base_patch16_224_in21k: pre_logits.fc.* before the classifier head)."""
    vit = timm_vit()
    state = vit.state_dict()
    gen = torch.Generator().manual_seed(1)
    state['pre_logits.fc.weight'] = torch.randn(32, 32, generator=gen) / 32**0.5
    state['pre_logits.fc.bias'] = torch.randn(32, generator=gen)
    state['head.weight'] = torch.randn(10, 32, generator=gen)  # the head follows pre-logits
    path = tmp_path_factory.mktemp('vit') / 'jx_tiny_in21k.pth'
    torch.save(state, path)
    return vit, state, path


def test_pre_logits_target_is_tanh_of_the_linear(in21k_layout):
    vit, state, path = in21k_layout
    teacher = vit_teacher(path, pre_logits=True, channel_order='bgr')
    assert teacher.embed_dims == 32 and teacher.channel_order == 'bgr'
    x = images()
    with torch.no_grad():
        # by hand: the reference's BGR views normalised with ImageNet's RGB statistics,
        # channel by channel; then Tanh(fc(LN(x)[:, 0]))
        normed = (x / 255 - IMAGENET_MEAN) / IMAGENET_STD
        cls = vit.forward_features(normed)[:, 0]
        ref = torch.tanh(cls @ state['pre_logits.fc.weight'].T + state['pre_logits.fc.bias'])
    out = teacher(x)
    torch.testing.assert_close(out, ref)
    assert out.abs().max() < 1  # after Tanh
    # pre_logits=False: the CLS feature after the final norm (the layer is dropped)
    torch.testing.assert_close(vit_teacher(path, channel_order='bgr')(x), cls)


def test_bgr_views_reach_the_vit_unflipped(in21k_layout):
    """channel_order only declares the order: the ViT sees the views as given, normalised
    with mean / std channel by channel (no RGB / BGR swap)."""
    _, _, path = in21k_layout
    x = images()
    bgr = vit_teacher(path, channel_order='bgr')
    rgb = vit_teacher(path, channel_order='rgb')
    torch.testing.assert_close(bgr.preprocess(x), (x / 255 - IMAGENET_MEAN) / IMAGENET_STD)
    torch.testing.assert_close(bgr.preprocess(x), rgb.preprocess(x))
    half = vit_teacher(path, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    torch.testing.assert_close(half.preprocess(x), x / 127.5 - 1)
    with pytest.raises(ValueError, match="channel_order must be 'rgb' or 'bgr', got 'BGR'"):
        vit_teacher(path, channel_order='BGR')


def test_missing_pre_logits_is_an_error_naming_file_key_and_weights(tmp_path):
    path = tmp_path / 'augreg_in21k.pth'
    torch.save(timm_vit().state_dict(), path)  # no pre_logits.fc.*, as newer timm files
    with pytest.raises(KeyError) as err:
        vit_teacher(path, pre_logits=True)
    msg = str(err.value)
    assert 'augreg_in21k.pth has no pre-logits layer' in msg
    assert 'pre_logits.fc.weight' in msg and 'jx_vit_base_patch16_224_in21k' in msg
    assert 'pre_logits=False' in msg
    vit_teacher(path, pre_logits=False)  # today's target from the same file


def test_pre_logits_from_an_mmpretrain_classifier(tmp_path, in21k_layout):
    """mmpretrain's VisionTransformerClsHead(hidden_dim=...) keeps the layer as
    head.layers.pre_logits."""
    _, state, _ = in21k_layout
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch=TINY_VIT, img_size=32, patch_size=8, out_type='cls_token',
                            final_norm=True)
    vit.eval()
    ckpt = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    ckpt['head.layers.pre_logits.weight'] = state['pre_logits.fc.weight']
    ckpt['head.layers.pre_logits.bias'] = state['pre_logits.fc.bias']
    ckpt['head.layers.head.weight'] = torch.zeros(10, 32)
    path = tmp_path / 'mmpretrain_in21k.pth'
    torch.save({'state_dict': ckpt}, path)
    teacher = vit_teacher(path, source='mmpretrain', pre_logits=True)
    x = images()
    with torch.no_grad():
        cls = vit((x / 255 - IMAGENET_MEAN) / IMAGENET_STD)[-1]
        ref = torch.tanh(cls @ state['pre_logits.fc.weight'].T + state['pre_logits.fc.bias'])
    torch.testing.assert_close(teacher(x), ref)
    del ckpt['head.layers.pre_logits.bias']
    torch.save({'state_dict': ckpt}, path)
    with pytest.raises(KeyError, match=r'mmpretrain_in21k\.pth has no pre-logits layer \(key '
                                       r'head\.layers\.pre_logits\.weight / bias missing\)'):
        vit_teacher(path, source='mmpretrain', pre_logits=True)


def test_clip_image_teacher_turns_bgr_into_rgb(tmp_path):
    """The CLIP tower always sees RGB: BGR views with channel_order='bgr' give the features of
    the same views in RGB with channel_order='rgb'."""
    path = random_clip.write_random_clip(str(tmp_path / 'clip.pth'), seed=0)
    cfg = dict(type='CLIPImageTeacher', checkpoint=path, model_cfg=random_clip.TINY_CLIP_CFG,
               precision='fp32')
    rgb_teacher = MODELS.build(cfg)
    bgr_teacher = MODELS.build(dict(cfg, channel_order='bgr'))
    assert rgb_teacher.channel_order == 'rgb' and bgr_teacher.channel_order == 'bgr'
    rgb = images()
    bgr = rgb.flip(1)
    torch.testing.assert_close(bgr_teacher(bgr), rgb_teacher(rgb))
    mean = torch.tensor(rgb_teacher.mean).view(1, 3, 1, 1)
    std = torch.tensor(rgb_teacher.std).view(1, 3, 1, 1)
    torch.testing.assert_close(bgr_teacher.preprocess(bgr), (rgb / 255 - mean) / std)
    assert not torch.allclose(rgb_teacher(bgr), rgb_teacher(rgb))  # the order matters


def test_clip_image_teacher_reference_input(tmp_path):
    """The ReCon reference feeds CLIP cv2's BGR views normalised with ImageNet's statistics:
    network_channel_order=None keeps them as given; recon_clip_pretrain.py does that."""
    path = random_clip.write_random_clip(str(tmp_path / 'clip.pth'), seed=0)
    imagenet = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    teacher = MODELS.build(dict(type='CLIPImageTeacher', checkpoint=path,
                                model_cfg=random_clip.TINY_CLIP_CFG, precision='fp32',
                                channel_order='bgr', network_channel_order=None, **imagenet))
    bgr = images().flip(1)
    mean = torch.tensor(imagenet['mean']).view(1, 3, 1, 1)
    std = torch.tensor(imagenet['std']).view(1, 3, 1, 1)
    torch.testing.assert_close(teacher.preprocess(bgr), (bgr / 255 - mean) / std)
    cfg = Config.fromfile(osp.join(REPO, 'configs/recon_clip_pretrain.py')).model.img_teacher
    assert cfg.channel_order == 'bgr' and cfg.network_channel_order is None
    assert tuple(cfg.mean) == imagenet['mean'] and tuple(cfg.std) == imagenet['std']
