"""Randomly initialised ClipCap checkpoints that stand in for ClipCap's released weights where
none can be downloaded (the demo, tests): the layout of a ClipCap ``ClipCaptionModel`` state
dict (the mapping network under ``clip_project.*``, a few small GPT-2 tensors under ``gpt.*``
that the teacher ignores), random values; they transfer no captioning knowledge. The command
line is ``tools/misc/random_clipcap_checkpoint.py``.
"""
import os
import os.path as osp
from typing import Dict

import torch

from ..models.teachers.clipcap_teacher import (MAPPING_TYPES, ClipCapMLPMapper,
                                               ClipCapTransformerMapper)


def random_clipcap_state_dict(mapping_type: str = 'mlp', prefix_size: int = 512,
                              prefix_length: int = 10, clip_length: int = 10,
                              gpt_embed_dims: int = 768, num_layers: int = 8,
                              num_heads: int = 8, gpt_vocab_size: int = 16,
                              seed: int = 0) -> Dict[str, torch.Tensor]:
    """A ClipCap-format state dict with random weights.

    Args:
        mapping_type: 'mlp' or 'transformer'.
        prefix_size, prefix_length, clip_length, gpt_embed_dims, num_layers, num_heads: the
            mapper's sizes (see ``ClipCapPrefixTeacher``; clip_length, num_layers, num_heads
            for 'transformer' only).
        gpt_vocab_size: rows of the fake GPT-2 token embedding (kept small).
        seed: torch seed.

    Returns:
        ``clip_project.*`` (the mapper, with non-trivial LayerNorm / bias values) plus
        ``gpt.transformer.wte.weight`` (gpt_vocab_size, gpt_embed_dims),
        ``gpt.transformer.wpe.weight`` (8, gpt_embed_dims), ``gpt.transformer.ln_f.{weight,
        bias}`` (gpt_embed_dims,) and ``gpt.lm_head.weight`` (gpt_vocab_size, gpt_embed_dims).
    """
    if mapping_type not in MAPPING_TYPES:
        raise ValueError(f'mapping_type must be one of {MAPPING_TYPES}, got {mapping_type!r}')
    gen = torch.Generator().manual_seed(seed)
    if mapping_type == 'mlp':
        mapper = ClipCapMLPMapper(prefix_size, prefix_length, gpt_embed_dims)
    else:
        mapper = ClipCapTransformerMapper(prefix_size, prefix_length, clip_length,
                                          gpt_embed_dims, num_layers, num_heads)
    state = {}
    for key, value in mapper.state_dict().items():
        if key.endswith('weight') and value.dim() == 2:  # Linear: uniform(+-1 / sqrt(fan_in))
            bound = value.shape[1] ** -0.5
            new = (torch.rand(value.shape, generator=gen) * 2 - 1) * bound
        elif 'norm' in key and key.endswith('weight'):  # LayerNorm scale around 1
            new = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        else:  # biases, LayerNorm shifts, prefix_const
            new = 0.1 * torch.randn(value.shape, generator=gen)
            if key == 'prefix_const':
                new = torch.randn(value.shape, generator=gen)
        state[f'clip_project.{key}'] = new
    dims = gpt_embed_dims
    state.update({
        'gpt.transformer.wte.weight': 0.02 * torch.randn(gpt_vocab_size, dims, generator=gen),
        'gpt.transformer.wpe.weight': 0.01 * torch.randn(8, dims, generator=gen),
        'gpt.transformer.ln_f.weight': torch.ones(dims),
        'gpt.transformer.ln_f.bias': torch.zeros(dims),
        'gpt.lm_head.weight': 0.02 * torch.randn(gpt_vocab_size, dims, generator=gen),
    })
    return state


def write_random_clipcap(path: str, mapping_type: str = 'mlp', **kwargs) -> str:
    """Save ``random_clipcap_state_dict(mapping_type, **kwargs)`` to ``path`` (a plain state
    dict, as ClipCap's train.py saves it). Returns ``path``."""
    state = random_clipcap_state_dict(mapping_type, **kwargs)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(state, path)
    return path
