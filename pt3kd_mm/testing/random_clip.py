"""Randomly initialised open_clip CLIP checkpoints that stand in for pretrained CLIP weights
where none can be downloaded (the demo, tests, benchmarks): they exercise ReCon's teachers and
pipeline, they transfer no 2D or language knowledge. The command line is
``tools/misc/random_clip_checkpoint.py``.
"""
import copy
import json
import os
import os.path as osp
from typing import Optional

import open_clip
import torch

# A tiny CLIP that still uses open_clip's real BPE vocabulary (49408 tokens, 77 per text).
TINY_CLIP_CFG = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=32, layers=2, width=32, patch_size=8, head_width=16),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
# The demo's stand-in (configs/recon_clip_pretrain_demo.py): 224 px views as the real pipeline
# gives them, 2 blocks of width 64 per tower.
DEMO_CLIP_CFG = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=224, layers=2, width=64, patch_size=32, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))
PRESETS = dict(tiny=TINY_CLIP_CFG, demo=DEMO_CLIP_CFG)


def build_random_clip(model_cfg: Optional[dict] = None, model_name: Optional[str] = None,
                      seed: int = 0) -> torch.nn.Module:
    """An open_clip model with random weights from ``model_cfg`` (default ``TINY_CLIP_CFG``)
    or the built-in ``model_name``; no network I/O."""
    if model_cfg is not None and model_name is not None:
        raise ValueError('pass model_cfg or model_name, not both')
    torch.manual_seed(seed)
    if model_name is not None:
        return open_clip.create_model(model_name, pretrained=None, pretrained_image=False,
                                      pretrained_text=False)
    cfg = copy.deepcopy(TINY_CLIP_CFG if model_cfg is None else model_cfg)
    model_class = open_clip.CustomTextCLIP if cfg.pop('custom_text', False) else open_clip.CLIP
    return model_class(**cfg)


def write_random_clip(path: str, model_cfg: Optional[dict] = None,
                      model_name: Optional[str] = None, seed: int = 0) -> str:
    """Save a random CLIP's state dict to ``path`` and its model config to ``<path>.json``.

    Args:
        path: where the weights go (torch.save of the state dict).
        model_cfg: an open_clip model config; default ``TINY_CLIP_CFG``.
        model_name: a built-in open_clip model instead (e.g. 'ViT-B-32').
        seed: torch seed of the initialisation.

    Returns:
        ``path``.
    """
    model = build_random_clip(model_cfg, model_name, seed)
    if model_name is not None:
        cfg = open_clip.get_model_config(model_name)
    else:
        cfg = copy.deepcopy(TINY_CLIP_CFG if model_cfg is None else model_cfg)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(model.state_dict(), path)
    with open(f'{path}.json', 'w') as f:
        json.dump(cfg, f, indent=2)
    return path
