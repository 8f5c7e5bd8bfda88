"""ClipCap's caption prefix as a frozen teacher: CLIP image embedding -> ClipCap mapping network
-> ``prefix_length`` GPT-2 input embeddings (Mokady et al., "ClipCap: CLIP Prefix for Image
Captioning", github.com/rmokady/CLIP_prefix_caption).

The two mapping networks of ClipCap (``clip_project`` in its ``ClipCaptionModel``), written
here from their definition (``train.py`` of the reference):

* ``'mlp'``: Linear(prefix_size, D * prefix_length // 2) -> Tanh -> Linear(.., D *
  prefix_length), viewed as (prefix_length, D); keys ``clip_project.model.{0,2}.{weight,bias}``.
* ``'transformer'``: Linear(prefix_size, clip_length * D) viewed as (clip_length, D),
  concatenated with a learnt constant ``prefix_const`` (prefix_length, D), through
  ``num_layers`` pre-norm layers (LayerNorm -> multi-head self-attention, 8 heads, queries and
  keys / values without bias, output projection with bias -> residual; LayerNorm -> Linear(D,
  2 D) -> ReLU -> Linear(2 D, D) -> residual); the last prefix_length tokens are the prefix.

Only the mapping network is read from the ClipCap file; its GPT-2 weights (``gpt.*``) are
ignored (logged with their count). The CLIP image tower is the project's
:class:`CLIPImageTeacher`, configured by ``clip=dict(...)``.
"""
import copy
import logging
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from .base_teacher import DEFAULT_PRECISION, FrozenTeacher
from .image_input import NormalisesImages

MAPPING_TYPES = ('mlp', 'transformer')
#: the key prefix of the mapping network in a ClipCap ``ClipCaptionModel`` state dict
MAPPER_PREFIX = 'clip_project.'
#: the key prefix of ClipCap's GPT-2 language model (ignored here)
GPT_PREFIX = 'gpt.'

_HOW_TO_GET_CLIPCAP = (
    'Download a ClipCap checkpoint on a machine with network access (the README of '
    'github.com/rmokady/CLIP_prefix_caption links the COCO and Conceptual Captions weights of '
    "the MLP mapper, prefix_length=10, made with OpenAI's CLIP ViT-B/32, and the COCO weights "
    'of the transformer mapper, prefix_length=clip_length=40, made with CLIP RN50x4) and pass '
    'its path as checkpoint=; tools/misc/random_clipcap_checkpoint.py writes a random '
    'stand-in for demos and tests.')


class ClipCapMLPMapper(nn.Module):
    """ClipCap's MLP mapping network: (B, prefix_size) -> (B, prefix_length, embed_dims).

    ``model`` = Linear(prefix_size, embed_dims * prefix_length // 2), Tanh,
    Linear(.., embed_dims * prefix_length) (module names as ClipCap's, so its weights load
    after stripping ``clip_project.``)."""

    def __init__(self, prefix_size: int, prefix_length: int, embed_dims: int) -> None:
        super().__init__()
        self.prefix_length, self.embed_dims = prefix_length, embed_dims
        out = embed_dims * prefix_length
        self.model = nn.Sequential(nn.Linear(prefix_size, out // 2), nn.Tanh(),
                                   nn.Linear(out // 2, out))

    def forward(self, x: Tensor) -> Tensor:
        """(B, prefix_size) -> (B, prefix_length, embed_dims)."""
        return self.model(x).view(x.shape[0], self.prefix_length, self.embed_dims)


class _ClipCapAttention(nn.Module):
    """Multi-head self-attention with ClipCap's parameter layout: ``to_queries`` (D -> D, no
    bias), ``to_keys_values`` (D -> 2 D, no bias; keys first, then values, each split into
    heads), ``project`` (D -> D, with bias)."""

    def __init__(self, embed_dims: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_queries = nn.Linear(embed_dims, embed_dims, bias=False)
        self.to_keys_values = nn.Linear(embed_dims, 2 * embed_dims, bias=False)
        self.project = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        b, n, d = x.shape
        h = self.num_heads
        q = self.to_queries(x).view(b, n, h, d // h).transpose(1, 2)  # (B, h, N, d / h)
        k, v = self.to_keys_values(x).view(b, n, 2, h, d // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d / h)) v
        return self.project(out.transpose(1, 2).reshape(b, n, d))


class _ClipCapMlp(nn.Module):
    """fc1 (D -> hidden) -> ReLU -> fc2 (hidden -> D)."""

    def __init__(self, embed_dims: int, hidden_dims: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        return self.fc2(F.relu(self.fc1(x)))


class _ClipCapLayer(nn.Module):
    """Pre-norm layer: x + attn(norm1(x)), then x + mlp(norm2(x)) (LayerNorm eps 1e-5)."""

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = _ClipCapAttention(embed_dims, num_heads)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = _ClipCapMlp(embed_dims, int(embed_dims * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _ClipCapLayers(nn.Module):
    """``layers``: the stack of ``_ClipCapLayer`` (ClipCap's ``Transformer``)."""

    def __init__(self, embed_dims: int, num_heads: int, num_layers: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            _ClipCapLayer(embed_dims, num_heads, mlp_ratio) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        for layer in self.layers:
            x = layer(x)
        return x


class ClipCapTransformerMapper(nn.Module):
    """ClipCap's transformer mapping network: (B, prefix_size) -> (B, prefix_length,
    embed_dims).

    ``linear`` maps the CLIP embedding to ``clip_length`` tokens, the learnt ``prefix_const``
    (prefix_length, D) is appended, ``transformer`` (``num_layers`` pre-norm self-attention
    layers, ``num_heads`` heads, MLP ratio ``mlp_ratio``) runs over the clip_length +
    prefix_length tokens, and the last prefix_length tokens are returned."""

    def __init__(self, prefix_size: int, prefix_length: int, clip_length: int, embed_dims: int,
                 num_layers: int = 8, num_heads: int = 8, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads '
                             f'{num_heads}')
        self.clip_length, self.embed_dims = clip_length, embed_dims
        self.linear = nn.Linear(prefix_size, clip_length * embed_dims)
        self.prefix_const = nn.Parameter(torch.zeros(prefix_length, embed_dims))
        self.transformer = _ClipCapLayers(embed_dims, num_heads, num_layers, mlp_ratio)

    def forward(self, x: Tensor) -> Tensor:
        """(B, prefix_size) -> (B, prefix_length, embed_dims)."""
        tokens = self.linear(x).view(x.shape[0], self.clip_length, self.embed_dims)
        const = self.prefix_const.to(tokens.dtype).expand(x.shape[0], -1, -1)
        return self.transformer(torch.cat([tokens, const], dim=1))[:, self.clip_length:]


def describe_clipcap_mapper(state: Dict[str, Tensor]) -> Dict[str, object]:
    """What a ClipCap mapper state dict (keys without ``clip_project.``) holds, read from its
    shapes: mapping_type, prefix_size and, where the shapes tell them, prefix_length *
    gpt_embed_dims (MLP) or clip_length, prefix_length, gpt_embed_dims, num_layers
    (transformer). Empty when the keys are neither layout."""
    if 'model.0.weight' in state and 'model.2.weight' in state:
        return dict(mapping_type='mlp', prefix_size=int(state['model.0.weight'].shape[1]),
                    prefix_length_x_gpt_embed_dims=int(state['model.2.weight'].shape[0]))
    if 'linear.weight' in state and 'prefix_const' in state:
        prefix_length, dims = (int(s) for s in state['prefix_const'].shape)
        layers = {int(m.group(1)) for k in state
                  for m in [re.match(r'transformer\.layers\.(\d+)\.', k)] if m}
        return dict(mapping_type='transformer', prefix_size=int(state['linear.weight'].shape[1]),
                    clip_length=int(state['linear.weight'].shape[0]) // max(dims, 1),
                    prefix_length=prefix_length, gpt_embed_dims=dims, num_layers=len(layers))
    if set(state) == {'weight', 'bias'}:
        return dict(mapping_type="a single Linear (ClipCap's predict.py for prefix_length > "
                    '10; not supported)', prefix_size=int(state['weight'].shape[1]))
    return {}


@MODELS.register_module()
class ClipCapPrefixTeacher(FrozenTeacher):
    """Frozen ClipCap prefix teacher: images -> CLIP image embedding -> ClipCap mapping network
    -> (B, prefix_length, gpt_embed_dims), the GPT-2 prefix embeddings ClipCap would caption
    the image from.

    ``forward(images)``: (B, 3, H, W) images in 0-255 and the CLIP teacher's
    ``channel_order``, of its ``image_size`` (224 for ViT-B/32) -> (B, prefix_length,
    gpt_embed_dims) float32. The CLIP teacher normalises the images itself.

    Follows the :class:`FrozenTeacher` contract (weights only from local files; frozen; outside
    the student's ``parameters()`` / ``state_dict()``, the nested CLIP teacher included; eval
    forever; float32 output).

    Args:
        clip: config of the CLIP image teacher, e.g. ``dict(type='CLIPImageTeacher',
            model_name='ViT-B-32-quickgelu', checkpoint=...)`` (its ``output`` must be
            'embedding'); its ``channel_order`` / ``precision`` apply to the image tower.
            ClipCap's released weights were made with OpenAI's CLIP ViT-B/32 (MLP) and RN50x4
            (transformer): pair a ClipCap file with the CLIP it was trained on.
        checkpoint: a ClipCap ``ClipCaptionModel`` state dict (``.pt`` as ClipCap saves it, or
            wrapped in 'state_dict' / 'model'); only ``clip_project.*`` is read.
        mapping_type: 'mlp' or 'transformer' (ClipCap's ``--mapping_type``).
        prefix_length: prefix tokens (ClipCap's ``--prefix_length``; 10 for its MLP weights).
        clip_length: tokens the CLIP embedding is mapped to before the transformer
            ('transformer' only; ClipCap's ``--prefix_length_clip``).
        num_layers: transformer layers ('transformer' only; ClipCap: 8).
        num_heads: attention heads ('transformer' only; ClipCap fixes 8).
        prefix_size: the CLIP embedding width (512 for ViT-B/32, 640 for RN50x4).
        gpt_embed_dims: GPT-2's width (768 for gpt2).
        normalize_prefix: L2-normalise the CLIP embedding before the mapper. None (default):
            as ClipCap's inference code does for the released weights of ``mapping_type``:
            not for 'mlp' (``predict.py``, ``clip_prefix_captioning_inference.ipynb``), yes for
            'transformer' (``transformer_inference.ipynb``). Set it as the checkpoint was
            trained (``train.py --normalize_prefix``).
        precision: what the mapper computes in (see ``FrozenTeacher``; default 'fp32': it is
            small). The CLIP tower computes in its own config's ``precision``.
        fp32_modules: sub-modules of the mapper that always compute in fp32.

    Attributes:
        target_shape: (prefix_length, gpt_embed_dims), one image's output.
        clip_teacher: the built CLIP image teacher.
        channel_order, network_channel_order, image_size, mean, std: the CLIP teacher's.
        ignored_keys: the checkpoint keys not read (GPT-2's).
    """

    how_to_get = _HOW_TO_GET_CLIPCAP

    def __init__(self,
                 clip: dict,
                 checkpoint: str,
                 mapping_type: str = 'mlp',
                 prefix_length: int = 10,
                 clip_length: int = 10,
                 num_layers: int = 8,
                 num_heads: int = 8,
                 prefix_size: int = 512,
                 gpt_embed_dims: int = 768,
                 normalize_prefix: Optional[bool] = None,
                 precision: str = DEFAULT_PRECISION,
                 fp32_modules: Sequence[str] = ()) -> None:
        owner = type(self).__name__
        if mapping_type not in MAPPING_TYPES:
            raise ValueError(f'{owner}: mapping_type must be one of {MAPPING_TYPES}, got '
                             f'{mapping_type!r}')
        if not isinstance(clip, dict):
            raise TypeError(f'{owner}: clip must be the config dict of a CLIP image teacher, '
                            f'e.g. dict(type="CLIPImageTeacher", ...), got '
                            f'{type(clip).__name__}')
        if mapping_type == 'transformer' and gpt_embed_dims % num_heads:
            raise ValueError(f'{owner}: gpt_embed_dims {gpt_embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.clip_cfg = copy.deepcopy(dict(clip))
        self.mapping_type = mapping_type
        self.prefix_length = int(prefix_length)
        self.clip_length = int(clip_length)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.prefix_size = int(prefix_size)
        self.gpt_embed_dims = int(gpt_embed_dims)
        self.normalize_prefix = (mapping_type == 'transformer') if normalize_prefix is None \
            else bool(normalize_prefix)
        self.target_shape: Tuple[int, int] = (self.prefix_length, self.gpt_embed_dims)
        self.ignored_keys: List[str] = []
        super().__init__(checkpoint, precision=precision, fp32_modules=fp32_modules)

    # ------------------------------------------------------------------ the image tower
    @property
    def channel_order(self) -> str:
        """The channel order the images are given in (the CLIP teacher's)."""
        return self.clip_teacher.channel_order

    @property
    def network_channel_order(self) -> Optional[str]:
        """The channel order the CLIP tower sees."""
        return self.clip_teacher.network_channel_order

    @property
    def image_size(self) -> Tuple[int, int]:
        """(H, W) of the input images."""
        return self.clip_teacher.image_size

    @property
    def mean(self) -> Tuple[float, ...]:
        """The CLIP teacher's normalisation mean (0-1 units)."""
        return self.clip_teacher.mean

    @property
    def std(self) -> Tuple[float, ...]:
        """The CLIP teacher's normalisation std (0-1 units)."""
        return self.clip_teacher.std

    def _build_clip(self) -> FrozenTeacher:
        owner = type(self).__name__
        cfg = copy.deepcopy(self.clip_cfg)
        cfg.setdefault('type', 'CLIPImageTeacher')
        if cfg.get('output', 'embedding') != 'embedding':
            raise ValueError(f"{owner}: the mapper reads CLIP's image embedding; clip.output "
                             f"must be 'embedding', got {cfg['output']!r}")
        teacher = MODELS.build(cfg)
        if not (isinstance(teacher, FrozenTeacher) and isinstance(teacher, NormalisesImages)):
            raise TypeError(f'{owner}: clip built a {type(teacher).__name__}, not a frozen '
                            f'image teacher such as CLIPImageTeacher')
        dims = tuple(getattr(teacher, 'target_shape', (getattr(teacher, 'embed_dims', -1), )))
        if dims != (self.prefix_size, ):
            raise ValueError(
                f'{owner}: the CLIP teacher gives {dims} embeddings but prefix_size is '
                f'{self.prefix_size}; the ClipCap mapper must be the one trained on this CLIP '
                f'(ClipCap: 512 for ViT-B/32, 640 for RN50x4)')
        return teacher

    # ------------------------------------------------------------------ the mapper
    def build_network(self) -> nn.Module:
        if self.mapping_type == 'mlp':
            return ClipCapMLPMapper(self.prefix_size, self.prefix_length, self.gpt_embed_dims)
        return ClipCapTransformerMapper(self.prefix_size, self.prefix_length, self.clip_length,
                                        self.gpt_embed_dims, self.num_layers, self.num_heads)

    def _settings(self) -> str:
        keys = ['mapping_type', 'prefix_size', 'prefix_length', 'gpt_embed_dims']
        if self.mapping_type == 'transformer':
            keys += ['clip_length', 'num_layers']
        return ', '.join(f'{k}={getattr(self, k)!r}' for k in keys)

    def split_checkpoint(self, state: Dict[str, Tensor], checkpoint: str
                         ) -> Tuple[Dict[str, Tensor], List[str]]:
        """A ClipCap state dict -> (mapper state without ``clip_project.``, ignored GPT-2 keys).

        Raises:
            KeyError: naming ``checkpoint`` when it has no mapper keys, or keys that are neither
                the mapper's nor GPT-2's.
        """
        owner = type(self).__name__
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        mapper = {k[len(MAPPER_PREFIX):]: v for k, v in state.items()
                  if k.startswith(MAPPER_PREFIX)}
        ignored = sorted(k for k in state if k.startswith(GPT_PREFIX))
        others = sorted(set(state) - set(ignored) - {MAPPER_PREFIX + k for k in mapper})
        if not mapper:
            raise KeyError(f'{owner}: {checkpoint} has no ClipCap mapping network keys '
                           f'({MAPPER_PREFIX}*); found {len(state)} keys, e.g. '
                           f'{sorted(state)[:5]}. Pass a ClipCap ClipCaptionModel state dict '
                           f'(the .pt its train.py saves). {self.how_to_get}')
        if others:
            raise KeyError(f'{owner}: {checkpoint} has keys that are neither the mapping '
                           f'network ({MAPPER_PREFIX}*) nor GPT-2 ({GPT_PREFIX}*): '
                           f'{others[:10]} ({len(others)} in all); is it a ClipCap checkpoint?')
        return mapper, ignored

    def check_mapper_state(self, network: nn.Module, mapper: Dict[str, Tensor],
                           checkpoint: str) -> None:
        """Refuse mapper weights whose keys or shapes do not fit the configured mapper.

        Raises:
            KeyError / ValueError: naming ``checkpoint``, the keys, the shapes, what the file
                holds and the config's settings.
        """
        expected = network.state_dict()
        missing = sorted(set(expected) - set(mapper))
        unexpected = sorted(set(mapper) - set(expected))
        wrong = [f'{MAPPER_PREFIX}{k}: {tuple(mapper[k].shape)} in the file, '
                 f'{tuple(v.shape)} for the config' for k, v in expected.items()
                 if k in mapper and tuple(mapper[k].shape) != tuple(v.shape)]
        if not (missing or unexpected or wrong):
            return
        owner = type(self).__name__
        found = describe_clipcap_mapper(mapper)
        held = ', '.join(f'{k}={v!r}' for k, v in found.items()) or 'an unknown layout'
        hint = (f'the file holds a mapper with {held}; the config asks for {self._settings()}. '
                f'Set mapping_type / prefix_length / clip_length / num_layers / prefix_size / '
                f'gpt_embed_dims as the checkpoint was trained (ClipCap train.py: '
                f'--mapping_type, --prefix_length, --prefix_length_clip, --num_layers, '
                f'--is_rn).')
        if missing or unexpected:
            raise KeyError(
                f'{owner}: {checkpoint} does not match the configured ClipCap mapper: missing '
                f'keys {[MAPPER_PREFIX + k for k in missing[:10]]} ({len(missing)}), '
                f'unexpected keys {[MAPPER_PREFIX + k for k in unexpected[:10]]} '
                f'({len(unexpected)}); {hint}')
        raise ValueError(f'{owner}: {checkpoint}: mapper shapes do not fit the config: '
                         f'{"; ".join(wrong[:10])} ({len(wrong)} keys); {hint}')

    def load_network(self, checkpoint: Optional[str], prefix: str) -> nn.Module:
        """Build the CLIP teacher and the mapper; load the mapper from the ClipCap file."""
        owner = type(self).__name__
        if not checkpoint or not osp.isfile(osp.expanduser(checkpoint)):
            raise FileNotFoundError(f'{owner}: ClipCap checkpoint {checkpoint!r} does not '
                                    f'exist. {self.how_to_get}')
        mapper, self.ignored_keys = self.split_checkpoint(self._read(checkpoint, prefix),
                                                          checkpoint)
        if self.ignored_keys:
            print_log(f'{owner}: {checkpoint}: read the mapping network ({len(mapper)} '
                      f'tensors); ignored {len(self.ignored_keys)} GPT-2 keys, e.g. '
                      f'{self.ignored_keys[:3]}', logger='current', level=logging.INFO)
        network = self.build_network()
        self.check_mapper_state(network, mapper, checkpoint)
        network.load_state_dict(mapper, strict=True)
        # a child module: moved and kept in eval with this teacher, holds no parameters itself
        self.clip_teacher = self._build_clip()
        return network

    # ------------------------------------------------------------------ forward
    def encode_image(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) images in 0-255 -> (B, prefix_size) CLIP embeddings, L2-normalised when
        ``normalize_prefix``."""
        embeds = self.clip_teacher(images)
        return F.normalize(embeds, dim=-1) if self.normalize_prefix else embeds

    def forward_teacher(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) images in 0-255 and ``channel_order`` -> (B, prefix_length,
        gpt_embed_dims) prefix embeddings."""
        return self.network(self.encode_image(images))

    def extra_repr(self) -> str:
        return f'{self._settings()}, normalize_prefix={self.normalize_prefix}'


__all__ = ['ClipCapPrefixTeacher', 'ClipCapMLPMapper', 'ClipCapTransformerMapper',
           'describe_clipcap_mapper', 'MAPPING_TYPES']
