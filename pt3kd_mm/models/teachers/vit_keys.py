"""timm ViT state dicts in mmpretrain ``VisionTransformer`` names, and the mmpretrain
``VisionTransformer`` settings of an arch (shared by the ViT teachers)."""
import re
from typing import Any, Dict, List, Optional, Tuple, Union

from torch import Tensor

# timm name -> mmpretrain name
TIMM_TO_MMPRETRAIN_VIT: List[Tuple[str, str]] = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.', r'layers.\1.attn.\2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    # layer scale (DINOv2, DeiT-III, ...)
    (r'^blocks\.(\d+)\.ls1\.gamma$', r'layers.\1.attn.gamma1.weight'),
    (r'^blocks\.(\d+)\.ls2\.gamma$', r'layers.\1.ffn.gamma2.weight'),
    (r'^norm\.', 'ln1.'),
]
# classifier parts no teacher feature uses
TIMM_DROPPED = ('head.', 'head_drop.', 'pre_logits.')


def timm_vit_to_mmpretrain(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """A timm ViT state dict with mmpretrain names; the classifier head and pre-logits are
    dropped, other unmapped keys (cls_token, pos_embed, ...) are kept as they are."""
    out = {}
    for key, value in state.items():
        if key.startswith(TIMM_DROPPED):
            continue
        for pattern, repl in TIMM_TO_MMPRETRAIN_VIT:
            if re.match(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        out[key] = value
    return out


#: mmpretrain arch names of DINOv2 ViTs with a standard MLP (built with layer scale)
DINOV2_ARCHS = ('dinov2-s', 'dinov2-small')
#: the ``layer_scale_init_value`` that makes mmpretrain build the layer-scale parameters (their
#: values come from the checkpoint)
LAYER_SCALE_INIT = 1e-5


def mmpretrain_vit_settings(arch: Union[str, dict],
                            layer_scale: Optional[bool] = None) -> Dict[str, Any]:
    """The ``VisionTransformer`` keyword arguments of ``arch``: ``arch`` ('small' is timm's /
    DeiT's 384 x 12 ViT-S, 'deit-small', not mmpretrain's own 768 x 8 'small'),
    ``layer_scale_init_value`` (layer scale on for ``layer_scale=True``; ``None``: on for the
    DINOv2 archs, off for the others) and ``norm_cfg`` (LayerNorm, eps 1e-6 as timm's ViTs and
    DINOv2)."""
    name = arch.lower() if isinstance(arch, str) else None
    if layer_scale is None:
        layer_scale = name in DINOV2_ARCHS
    return dict(arch='deit-small' if name == 'small' else arch,
                layer_scale_init_value=LAYER_SCALE_INIT if layer_scale else 0.,
                norm_cfg=dict(type='LN', eps=1e-6))
