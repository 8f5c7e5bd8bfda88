"""Frozen CLIP teachers (open_clip): the image tower and the text tower.

Both follow the teacher contract of :class:`FrozenTeacher`: weights from a local file
(the CLIP teachers also accept an explicit open_clip pretrained tag, for users with network
access), frozen, outside the student's ``parameters()`` / ``state_dict()``, eval forever.
"""
import copy
import difflib
import logging
import os.path as osp
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from .base_teacher import ENCODER_PRECISION, FrozenTeacher
from .image_input import NormalisesImages, check_channel_order

_HOW_TO_GET_CLIP = (
    'On a machine with network access save the open_clip model once and copy the file here: '
    "model = open_clip.create_model('ViT-B-32-quickgelu', pretrained='openai'); "
    'torch.save(model.state_dict(), PATH); then pass checkpoint=PATH with the same '
    "model_name (OpenAI's weights were trained with QuickGELU: use the '-quickgelu' model "
    "names, or open_clip_kwargs=dict(force_quick_gelu=True)). An open_clip_pytorch_model.bin "
    '/ .safetensors from the Hugging Face hub or an OpenAI CLIP .pt works as well. '
    'tools/misc/random_clip_checkpoint.py writes a random stand-in for demos and tests.')


def _not_random_init_warning(record: logging.LogRecord) -> bool:
    """Drops open_clip's 'initialized randomly' warning for a model whose weights follow."""
    return not record.getMessage().startswith('No pretrained weights loaded')


def _is_torchscript(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (e.g. OpenAI's original CLIP ``.pt`` files)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith('constants.pkl') for name in archive.namelist())


#: what ``CLIPImageTeacher`` returns (see its docstring)
IMAGE_OUTPUTS = ('embedding', 'patch_tokens')


class _ImageTower(nn.Module):
    """Holds CLIP's ``visual`` under its own name, so the state dict keys match the
    checkpoint's (``visual.*``).

    ``output='embedding'``: ``visual(images)``, (B, D). ``output='patch_tokens'``: the patch
    tokens of the last block after ``ln_post``, times ``proj`` (the projection of the pooled
    embedding, so they live in the embedding space), (B, gh * gw, D) row-major over the patch
    grid; needs an open_clip ``VisionTransformer`` with a class token at position 0 and no
    attentional pooler."""

    def __init__(self, visual: nn.Module, output: str = 'embedding') -> None:
        super().__init__()
        self.visual = visual
        self.output = output

    def forward(self, images: Tensor) -> Tensor:
        if self.output == 'embedding':
            return self.visual(images)
        visual = self.visual
        x = visual.transformer(visual._embeds(images))  # (B, 1 + gh * gw, width)
        tokens = visual.ln_post(x[:, 1:])  # per-token LayerNorm: the class token plays no part
        return tokens @ visual.proj if visual.proj is not None else tokens


class _OpenCLIPTeacher(FrozenTeacher):
    """The common part of the CLIP image and text teachers: building an open_clip model from
    a name or a config, weights from a file or a pretrained tag, keeping one tower.

    Args:
        model_name: open_clip model name (see ``open_clip.list_models()``); ignored when
            ``model_cfg`` is given. 'hf-hub:' names are refused (they read the network);
            'local-dir:' names work offline.
        checkpoint: a local weights file: a plain CLIP state dict, an open_clip ``.bin`` /
            ``.pt`` / ``.safetensors``, an open_clip training checkpoint (``state_dict``) or
            OpenAI's TorchScript ``.pt``. The whole CLIP state dict is accepted; only the
            tower's keys are kept.
        pretrained: an open_clip pretrained tag (e.g. 'openai', 'laion2b_s34b_b79k'), used
            only without ``checkpoint``; downloads the weights (network access needed).
        model_cfg: an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...)
            built with ``open_clip.CLIP`` (``CustomTextCLIP`` for ``custom_text``) directly.
        open_clip_kwargs: extra keyword arguments of ``open_clip.create_model`` (e.g.
            ``force_quick_gelu=True``), or, with ``model_cfg``, of the model class (e.g.
            ``quick_gelu=True``).
        precision: what ``forward`` computes in ('fp32', 'bf16', 'fp16', 'auto'; see
            ``FrozenTeacher``); the features are returned in float32. Default 'auto': bf16 /
            fp16 where the device computes them natively (within the tolerance of
            ``base_teacher.ENCODER_PRECISION``), fp32 on other CPUs; 'fp32' for exact features.
        fp32_modules: sub-modules that compute in fp32 whatever ``precision`` says.
    """

    how_to_get = _HOW_TO_GET_CLIP

    def __init__(self,
                 model_name: str = 'ViT-B-32',
                 checkpoint: Optional[str] = None,
                 pretrained: Optional[str] = None,
                 model_cfg: Optional[dict] = None,
                 open_clip_kwargs: Optional[dict] = None,
                 precision: str = ENCODER_PRECISION,
                 fp32_modules: Sequence[str] = ()) -> None:
        self.model_name = model_name
        self.pretrained = pretrained
        self.model_cfg = copy.deepcopy(model_cfg)
        self.open_clip_kwargs = dict(open_clip_kwargs or {})
        self._check_args(checkpoint)
        super().__init__(checkpoint, precision=precision, fp32_modules=fp32_modules)

    # ------------------------------------------------------------------ arguments
    def _check_args(self, checkpoint: Optional[str]) -> None:
        name = type(self).__name__
        if checkpoint and self.pretrained:
            raise ValueError(f'{name}: pass either checkpoint= (a local file) or pretrained= '
                             f'(an open_clip tag), not both (got {checkpoint!r} and '
                             f'{self.pretrained!r})')
        if not checkpoint and not self.pretrained:
            raise FileNotFoundError(
                f'{name}: no teacher weights given: pass checkpoint=<local weights file> (or '
                f'pretrained=<open_clip tag> on a machine with network access). '
                f'{self.how_to_get}')
        if self.model_cfg is not None:
            if self.pretrained:
                raise ValueError(f'{name}: pretrained={self.pretrained!r} needs a named open_clip '
                                 f'model (model_name=), not model_cfg; use checkpoint= for the '
                                 f'weights of a model_cfg')
            if 'multimodal_cfg' in self.model_cfg:
                raise ValueError(f'{name}: CoCa configs (multimodal_cfg) are not supported')
            return
        if self.model_name.startswith('hf-hub:'):
            raise ValueError(f'{name}: model_name {self.model_name!r} reads its config from the '
                             f'network; use the built-in name, a local-dir: folder or model_cfg=')
        import open_clip
        if open_clip.get_model_config(self.model_name) is None:
            close = difflib.get_close_matches(self.model_name, open_clip.list_models(), n=5)
            raise ValueError(f'{name}: unknown open_clip model_name {self.model_name!r}; close '
                             f'names: {close} (all: open_clip.list_models())')
        if self.pretrained:
            tags = open_clip.list_pretrained_tags_by_model(self.model_name)
            if self.pretrained.lower().replace('-', '_') not in tags:
                raise ValueError(
                    f'{name}: unknown pretrained tag {self.pretrained!r} for open_clip model '
                    f'{self.model_name!r}; valid tags: {tags}. For a local weights file use '
                    f'checkpoint= instead.')

    # ------------------------------------------------------------------ building
    def _build_clip(self) -> nn.Module:
        """A randomly initialised open_clip model, without network I/O."""
        import open_clip
        if self.model_cfg is not None:
            cfg = copy.deepcopy(self.model_cfg)
            cfg.update(self.open_clip_kwargs)
            text_cfg = cfg['text_cfg']
            hf_text = 'hf_model_name' in text_cfg
            if hf_text:
                text_cfg['hf_model_pretrained'] = False
            if 'timm_model_name' in cfg['vision_cfg']:
                cfg['vision_cfg']['timm_model_pretrained'] = False
            model_class = open_clip.CustomTextCLIP if cfg.pop('custom_text', False) or hf_text \
                else open_clip.CLIP
            model = model_class(**cfg)
            size = model.visual.image_size if hasattr(model.visual, 'image_size') else 224
            open_clip.model.set_model_preprocess_cfg(model, dict(
                size=size, mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD))
            return model
        kwargs = dict(self.open_clip_kwargs)
        # no tower weights from the hub and none from a local-dir: folder: only `checkpoint`
        kwargs.update(pretrained_image=False, pretrained_text=False, load_weights=False)
        root = logging.getLogger()
        root.addFilter(_not_random_init_warning)  # the weights are loaded right after
        try:
            return open_clip.create_model(self.model_name, pretrained=None, **kwargs)
        finally:
            root.removeFilter(_not_random_init_warning)

    def _config(self) -> dict:
        """The open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...)."""
        import open_clip
        return self.model_cfg if self.model_cfg is not None else \
            open_clip.get_model_config(self.model_name)

    def _download_clip(self) -> nn.Module:
        """The open_clip model with the weights of ``self.pretrained`` (network I/O)."""
        import open_clip
        kwargs = dict(self.open_clip_kwargs)
        tag_cfg = open_clip.pretrained.get_pretrained_cfg(self.model_name, self.pretrained)
        model_quick_gelu = open_clip.get_model_config(self.model_name).get('quick_gelu', False)
        if tag_cfg.get('quick_gelu', False) and not model_quick_gelu:
            # open_clip only warns here; the tag's weights are wrong without QuickGELU
            kwargs.setdefault('force_quick_gelu', True)
        try:
            return open_clip.create_model(self.model_name, pretrained=self.pretrained, **kwargs)
        except Exception as err:
            raise RuntimeError(
                f'{type(self).__name__}: could not get the open_clip weights of '
                f'{self.model_name!r} / pretrained={self.pretrained!r} ({err}). Download them on '
                f'a machine with network access and pass checkpoint=PATH instead: '
                f'{self.how_to_get}') from err

    def load_network(self, checkpoint: Optional[str], prefix: str) -> nn.Module:
        if self.pretrained and not checkpoint:
            return self.take_tower(self._download_clip())
        return super().load_network(checkpoint, prefix)

    def build_network(self) -> nn.Module:
        return self.take_tower(self._build_clip())

    def take_tower(self, clip: nn.Module) -> nn.Module:
        """Keep only this teacher's tower of ``clip`` (and remember what it needs)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ weights
    def _read(self, checkpoint: str, prefix: str) -> Dict[str, Tensor]:
        path = osp.expanduser(checkpoint)
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            try:
                return load_file(path, device='cpu')
            except Exception as err:  # SafetensorError on a corrupt / truncated file
                raise RuntimeError(
                    f'{type(self).__name__}: CLIP checkpoint {path} is unreadable as '
                    f'.safetensors ({err}); expected an open_clip state dict saved with '
                    f'safetensors: download it again. {self.how_to_get}') from err
        if _is_torchscript(path):
            try:
                state = torch.jit.load(path, map_location='cpu').state_dict()
            except Exception as err:  # RuntimeError from the archive reader, without the path
                raise RuntimeError(
                    f'{type(self).__name__}: CLIP checkpoint {path} looks like a TorchScript '
                    f'archive (OpenAI\'s CLIP .pt format: a zip with constants.pkl) but '
                    f'torch.jit.load cannot read it ({err}); expected an intact OpenAI CLIP '
                    f'.pt (e.g. ViT-B-32.pt), an open_clip state dict or a .safetensors file: '
                    f'the file is corrupt or not a CLIP model, download it again. '
                    f'{self.how_to_get}') from err
            # scripted / traced archives also keep derived buffers (attn_mask)
            for key in ('input_resolution', 'context_length', 'vocab_size', 'attn_mask'):
                state.pop(key, None)
            return state
        return FrozenTeacher._read(checkpoint, prefix)

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        return {k[len('module.'):] if k.startswith('module.') else k: v
                for k, v in state.items()}

    @property
    def _param(self) -> Tensor:
        return next(self.network.parameters())


@MODELS.register_module()
class CLIPImageTeacher(NormalisesImages, _OpenCLIPTeacher):
    """CLIP's image tower (open_clip), frozen: images -> the projected image embedding.

    ``forward(images)``: (B, 3, H, W) images in 0-255 and ``channel_order`` of size
    ``image_size`` (the teacher turns them into RGB and normalises them with ``mean`` / ``std``)
    -> (B, D) = ``encode_image(normalised, normalize=False)`` (the CLS token after ``ln_post``
    times ``proj``; D = ``embed_dims``, 512 for ViT-B-32).

    ``output='patch_tokens'``: (B, gh * gw, D) instead, the patch tokens of the last block
    after ``ln_post`` times ``proj`` (the same projection as the embedding's, so they live in
    the embedding space), row-major over the (gh, gw) = ``grid_size`` patch grid (token
    ``i * gw + j`` is the patch of row i, column j); for local (per-patch) alignment.

    Args:
        output: 'embedding' (default) or 'patch_tokens' (see above; needs an open_clip
            ``VisionTransformer`` tower with a class token and no attentional pooler).
        channel_order: the channel order of the input images, as the pipeline loads them
            (``LoadRenderedImage(to_rgb=...)``): 'rgb' or 'bgr'.
        network_channel_order: 'rgb' (default: BGR input is flipped to the RGB CLIP's weights
            were trained on) or None (the images reach the tower in ``channel_order`` as given:
            the ReCon reference feeds its CLIP teacher cv2's BGR views).
        mean, std: normalisation in 0-1 units, per channel in the order the tower sees; None:
            CLIP's own (OPENAI_DATASET_MEAN / STD unless the pretrained tag says otherwise);
            the ReCon reference uses ImageNet's for every image teacher.
        Others: see :class:`_OpenCLIPTeacher`. Only the image tower is kept.

    Attributes:
        embed_dims: D.
        image_size: (H, W) the tower was trained at.
        mean, std: the normalisation applied (see Args).
        output: what ``forward`` returns ('embedding' / 'patch_tokens').
        grid_size: (gh, gw) patch grid of the tower (ViT towers).
        target_shape: the shape of one sample's output: (D,) or (gh * gw, D).
    """

    def __init__(self,
                 *args,
                 output: str = 'embedding',
                 channel_order: str = 'rgb',
                 network_channel_order: Optional[str] = 'rgb',
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        owner = type(self).__name__
        if output not in IMAGE_OUTPUTS:
            raise ValueError(f'{owner}: output must be one of {IMAGE_OUTPUTS}, got {output!r}')
        self.output = output
        self.channel_order = check_channel_order(channel_order, owner)
        self.network_channel_order = None if network_channel_order is None else \
            check_channel_order(network_channel_order, owner)
        super().__init__(*args, **kwargs)
        if mean is not None:
            self.mean = tuple(float(m) for m in mean)
        if std is not None:
            self.std = tuple(float(s) for s in std)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f'{owner}: mean and std need 3 values, got {self.mean} / '
                             f'{self.std}')

    def take_tower(self, clip: nn.Module) -> nn.Module:
        import open_clip
        visual = clip.visual
        cfg = open_clip.get_model_preprocess_cfg(clip)
        size = cfg.get('size', getattr(visual, 'image_size', 224))
        self.image_size: Tuple[int, int] = tuple(int(s) for s in (
            (size, size) if isinstance(size, int) else size))
        self.mean: Tuple[float, ...] = tuple(cfg.get('mean', open_clip.OPENAI_DATASET_MEAN))
        self.std: Tuple[float, ...] = tuple(cfg.get('std', open_clip.OPENAI_DATASET_STD))
        self.embed_dims: int = int(getattr(visual, 'output_dim', None)
                                   or self._config()['embed_dim'])
        grid = getattr(visual, 'grid_size', None)
        self.grid_size: Optional[Tuple[int, int]] = None if grid is None else tuple(
            int(g) for g in ((grid, grid) if isinstance(grid, int) else grid))
        if self.output == 'patch_tokens':
            self._check_patch_tokens(visual)
            self.target_shape: Tuple[int, ...] = (self.grid_size[0] * self.grid_size[1],
                                                  self.embed_dims)
        else:
            self.target_shape = (self.embed_dims, )
        return _ImageTower(visual, self.output)

    def _check_patch_tokens(self, visual: nn.Module) -> None:
        """Refuse towers whose last-block tokens are not [class token, patch tokens]."""
        from open_clip.transformer import VisionTransformer
        reason = None
        if not isinstance(visual, VisionTransformer):
            reason = f'its image tower is a {type(visual).__name__}, not a VisionTransformer'
        elif getattr(visual, 'attn_pool', None) is not None:
            reason = 'its tower pools with an attentional pooler'
        elif getattr(visual, 'pool_type', 'tok') not in ('tok', 'avg'):
            reason = f'its tower has no class token (pool_type={visual.pool_type!r})'
        if reason:
            raise ValueError(f"{type(self).__name__}: output='patch_tokens' needs an open_clip "
                             f'ViT with a class token and a patch grid, but {reason}; use '
                             f"output='embedding' or another CLIP model")

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        state = super().convert_state_dict(state)
        visual = {k: v for k, v in state.items() if k.startswith('visual.')}
        # a file with the image tower alone (keys of clip.visual) is accepted as well
        return visual if visual else {f'visual.{k}': v for k, v in state.items()}

    def forward_teacher(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) images in 0-255 and ``channel_order`` -> (B, D) image embeddings (not
        L2-normalised), or (B, gh * gw, D) projected patch tokens (``output='patch_tokens'``)."""
        return self.network(self.preprocess(images))


@MODELS.register_module()
class CLIPTextTeacher(_OpenCLIPTeacher):
    """CLIP's text tower (open_clip), frozen: texts -> the projected text embedding.

    ``forward(texts)``: B strings -> (B, D) = ``encode_text(tokens, normalize=False)`` (the
    end-of-text token's feature after ``ln_final`` times ``text_projection``). Texts are
    tokenised offline with open_clip's bundled BPE vocabulary (``SimpleTokenizer``, the
    tokenizer of OpenAI-style models; models that need a Hugging Face tokenizer are refused
    unless their weights come from a pretrained tag) and truncated to ``context_length``.

    Attributes:
        embed_dims: D.
        target_shape: (D,), the shape of one text's output.
        context_length: tokens per text.
        tokenizer: callable, list of B strings -> (B, context_length) LongTensor.

    See :class:`_OpenCLIPTeacher` for the arguments. Only the text tower is kept.
    """

    takes_texts = True

    def take_tower(self, clip: nn.Module) -> nn.Module:
        clip.visual = None
        # the contrastive temperature is no part of the text features
        clip.logit_scale = None
        if getattr(clip, 'logit_bias', None) is not None:
            clip.logit_bias = None
        self.context_length: int = int(clip.context_length)
        self._custom_text = hasattr(clip, 'text')
        projection = clip.text.text_projection if hasattr(clip, 'text') else \
            clip.text_projection
        if isinstance(projection, nn.Linear):
            self.embed_dims: int = projection.out_features
        elif isinstance(projection, Tensor):
            self.embed_dims = projection.shape[1]
        else:  # no projection: the text width
            self.embed_dims = (clip.text if hasattr(clip, 'text') else clip).transformer.width
        self.target_shape: Tuple[int, ...] = (self.embed_dims, )
        self.tokenizer = self._make_tokenizer()
        return clip

    def _make_tokenizer(self):
        """open_clip's BPE tokenizer, built without network I/O."""
        import open_clip
        text_cfg = self._config().get('text_cfg', {})
        needs_hf = bool(text_cfg.get('hf_tokenizer_name')) or (
            self.model_cfg is None and 'siglip' in self.model_name.lower())
        if needs_hf:
            if self.pretrained:  # the user allowed network I/O
                return open_clip.get_tokenizer(self.model_name,
                                               context_length=self.context_length)
            raise ValueError(
                f'{type(self).__name__}: the text tower of {self.model_name!r} needs a Hugging '
                f'Face tokenizer ({text_cfg.get("hf_tokenizer_name") or "SigLIP"}), which is '
                f'not available offline; use an OpenAI-style CLIP (BPE tokenizer)')
        return open_clip.SimpleTokenizer(context_length=self.context_length,
                                         **text_cfg.get('tokenizer_kwargs', {}))

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        state = super().convert_state_dict(state)
        state = {k: v for k, v in state.items()
                 if not k.startswith('visual.') and k not in ('logit_scale', 'logit_bias')}
        if self._custom_text and 'positional_embedding' in state:
            # a CLIP-layout file for a CustomTextCLIP (text tower under ``text.``)
            from open_clip.model import convert_to_custom_text_state_dict
            state = convert_to_custom_text_state_dict(state)
        return state

    def tokenize(self, texts: Union[str, Sequence[str]]) -> Tensor:
        """B strings -> (B, context_length) token ids on the teacher's device."""
        if isinstance(texts, str):
            texts = [texts]
        return self.tokenizer(list(texts)).to(self._param.device)

    @torch.no_grad()
    def encode_tokens(self, tokens: Tensor) -> Tensor:
        """(B, L) token ids -> (B, D) text embeddings (not L2-normalised)."""
        return self.network.encode_text(tokens.to(self._param.device), normalize=False)

    def forward_teacher(self, texts: Union[str, Sequence[str]]) -> Tensor:
        """B strings -> (B, D) text embeddings (not L2-normalised)."""
        return self.encode_tokens(self.tokenize(texts))


__all__: List[str] = ['CLIPImageTeacher', 'CLIPTextTeacher', 'IMAGE_OUTPUTS']
