"""timm ViT state dicts in mmpretrain ``VisionTransformer`` names (shared by the ViT teachers)."""
import re
from typing import Dict, List, Tuple

from torch import Tensor

# timm name -> mmpretrain name
TIMM_TO_MMPRETRAIN_VIT: List[Tuple[str, str]] = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.', r'layers.\1.attn.\2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
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
