"""ReCon's default image teacher: a frozen ViT (mmpretrain ``VisionTransformer``) read from an
mmpretrain or timm checkpoint."""
from typing import Dict, Sequence, Tuple, Union

from torch import Tensor, nn

from mmdet3d.registry import MODELS

from .base_teacher import ENCODER_PRECISION, FrozenTeacher
from .image_input import IMAGENET_MEAN, IMAGENET_STD, NormalisesImages
from .vit_keys import timm_vit_to_mmpretrain

_MMPRETRAIN_DROPPED = ('head.', 'neck.', 'data_preprocessor.')


@MODELS.register_module()
class ViTImageTeacher(NormalisesImages, FrozenTeacher):
    """ReCon's default image teacher: a ViT's CLS token after the final norm, frozen.

    The network is mmpretrain's ``VisionTransformer(arch, patch_size, img_size,
    out_type='cls_token', final_norm=True)``.

    ``forward(images)``: (B, 3, H, W) RGB images in 0-255 (normalised inside with ``mean`` /
    ``std``) -> (B, C) CLS features
    (C = ``embed_dims``, 768 for 'base').

    Args:
        checkpoint: local weights file.
        arch: mmpretrain arch name ('base', 'large', 'deit-small', ...), 'small' (timm's /
            DeiT's 384-wide 12-layer ViT-S, not mmpretrain's own 768 x 8 'small') or a dict
            with embed_dims, num_layers, num_heads, feedforward_channels.
        img_size: input size the position embedding is built for.
        patch_size: patch size.
        source: the checkpoint's layout: 'mmpretrain' (a classifier / backbone checkpoint,
            keys ``backbone.*`` or bare) or 'timm' (a timm ViT state dict such as
            ``vit_base_patch16_224_in21k``; converted to mmpretrain names, the classifier head
            and pre-logits are dropped).
        mean, std: per-channel normalisation of RGB images in 0-1 units that the weights
            expect (ImageNet's by default; Google's in21k ViTs, e.g. timm's
            ``vit_base_patch16_224_in21k``, were trained with mean = std = (0.5, 0.5, 0.5)).
        precision: what ``forward`` computes in ('fp32', 'bf16', 'fp16', 'auto'; see
            ``FrozenTeacher``); the features are returned in float32. Default 'auto': bf16 /
            fp16 where the device computes them natively (within the tolerance of
            ``base_teacher.ENCODER_PRECISION``), fp32 on other CPUs; 'fp32' for exact features.
        fp32_modules: sub-modules that compute in fp32 whatever ``precision`` says.
    """

    how_to_get = (
        'Save the ViT once where it can be downloaded and copy the file here: timm: '
        'torch.save(timm.create_model("vit_base_patch16_224.augreg_in21k", '
        'pretrained=True).state_dict(), PATH) with source="timm"; mmpretrain: a '
        'VisionTransformer checkpoint from its model zoo with source="mmpretrain". '
        'tools/misc/random_vit_checkpoint.py writes a random stand-in.')

    def __init__(self,
                 checkpoint: str,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 patch_size: int = 16,
                 source: str = 'mmpretrain',
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 precision: str = ENCODER_PRECISION,
                 fp32_modules: Sequence[str] = ()) -> None:
        if source not in ('mmpretrain', 'timm'):
            raise ValueError(f"source must be 'mmpretrain' or 'timm', got {source!r}")
        self.arch, self.img_size, self.patch_size, self.source = arch, img_size, patch_size, \
            source
        self.mean: Tuple[float, ...] = tuple(float(m) for m in mean)
        self.std: Tuple[float, ...] = tuple(float(s) for s in std)
        super().__init__(checkpoint, precision=precision, fp32_modules=fp32_modules)
        self.embed_dims: int = int(self.network.embed_dims)
        self.image_size: Tuple[int, int] = tuple(int(s) for s in (
            (img_size, img_size) if isinstance(img_size, int) else img_size))

    def build_network(self) -> nn.Module:
        from mmpretrain.models import VisionTransformer
        arch = 'deit-small' if self.arch == 'small' else self.arch
        return VisionTransformer(arch=arch, img_size=self.img_size, patch_size=self.patch_size,
                                 out_type='cls_token', final_norm=True)

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        if self.source == 'mmpretrain':
            if any(k.startswith('backbone.') for k in state):
                return {k[len('backbone.'):]: v for k, v in state.items()
                        if k.startswith('backbone.')}
            return {k: v for k, v in state.items() if not k.startswith(_MMPRETRAIN_DROPPED)}
        return timm_vit_to_mmpretrain(state)  # unmapped keys are reported as unexpected

    def forward_teacher(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) RGB images in 0-255 -> (B, C) CLS features after the final norm."""
        return self.network(self.preprocess(images))[-1]
