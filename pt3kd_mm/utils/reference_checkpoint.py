"""Reading checkpoints written by the reference repositories (Point-MAE, ACT, ReCon) and
renaming their keys into pt3kd_mm's, for ``tools/model_converters/``.

The reference runners save ``{'base_model': state_dict, 'optimizer': ..., 'epoch': ...,
'metrics': ...}`` (pre-training and fine-tuning; some releases use ``'model'``), with a
``module.`` prefix when the model was saved from DDP. A converter:

1. ``load_reference_state``: the state dict, ``module.`` stripped, from ``base_model`` or
   ``model``;
2. ``require_layout``: refuses a file of another layout, naming what was expected;
3. ``convert_keys``: renames by an ordered list of ``(regex, replacement)`` rules, where the
   replacement ``None`` marks a key with no counterpart here (e.g. the frozen CLIP towers that
   ReCon saves, the classification head of a fine-tuned model). Keys that no rule matches are
   reported as unknown, never silently dropped;
4. ``save_converted``: an mmengine-style ``{'state_dict', 'meta'}`` file.
"""
import os.path as osp
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .checkpoint import load_local_checkpoint

Rule = Tuple[str, Optional[str]]


def load_reference_state(path: str,
                         roots: Sequence[str] = ('base_model', 'model')) -> Dict[str, Tensor]:
    """The model state dict of a reference checkpoint: the first of ``roots`` present in the
    file (or the file itself when it is a bare state dict of tensors), ``module.`` prefixes
    stripped."""
    ckpt = load_local_checkpoint(path, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a dict checkpoint with one of {list(roots)}, got '
                         f'{type(ckpt).__name__}')
    state = None
    for root in roots:
        if isinstance(ckpt.get(root), dict):
            state = ckpt[root]
            break
    if state is None:
        if ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
            state = ckpt
        else:
            raise ValueError(
                f'{path}: no model weights under any of {list(roots)} (the reference runners '
                f'save them under base_model); its top-level keys are {sorted(ckpt)[:10]}')
    out = {}
    for key, value in state.items():
        if not isinstance(value, Tensor):
            raise ValueError(f'{path}: entry {key!r} of the state dict is a '
                             f'{type(value).__name__}, not a tensor')
        out[key[len('module.'):] if key.startswith('module.') else key] = value
    return out


def require_layout(state: Dict[str, Tensor], required: Iterable[str], layout: str,
                   path: str, forbidden: Iterable[str] = ()) -> None:
    """Refuse ``state`` unless every regex of ``required`` matches some key and no regex of
    ``forbidden`` does; the error names the expected layout and what the file holds."""
    keys = sorted(state)
    missing = [p for p in required if not any(re.match(p, k) for k in keys)]
    present = [p for p in forbidden if any(re.match(p, k) for k in keys)]
    if missing or present:
        tops = sorted({k.split('.')[0] for k in keys})
        why = []
        if missing:
            why.append(f'no key matches {missing}')
        if present:
            why.append(f'keys match {present}, which the {layout} layout does not have')
        raise ValueError(f'{path} is not a {layout} checkpoint: {"; ".join(why)}. Its '
                         f'top-level modules are {tops}. Pick the converter (--layout) that '
                         f'matches the repository and stage that wrote the file.')


def convert_keys(state: Dict[str, Tensor],
                 rules: Sequence[Rule]) -> Tuple[Dict[str, Tensor], List[str], List[str]]:
    """Rename ``state`` by the first matching rule of each key.

    Returns:
        (converted state, keys with no counterpart (rule replacement ``None``), keys that no
        rule matches (unknown)). Two keys renamed to the same name raise an error.
    """
    out, dropped, unknown = {}, [], []
    for key in sorted(state):
        for pattern, repl in rules:
            if re.match(pattern, key):
                if repl is None:
                    dropped.append(key)
                else:
                    new = re.sub(pattern, repl, key, count=1)
                    if new in out:
                        raise ValueError(f'two keys convert to {new!r} (one is {key!r})')
                    out[new] = state[key]
                break
        else:
            unknown.append(key)
    return out, dropped, unknown


def report_keys(dropped: Sequence[str], unknown: Sequence[str],
                printer: Callable[[str], None] = print) -> None:
    """Print every key that has no counterpart, by name."""
    if dropped:
        printer(f'{len(dropped)} keys have no counterpart in pt3kd_mm and are not converted:')
        for key in dropped:
            printer(f'  {key}')
    if unknown:
        printer(f'{len(unknown)} keys are not part of the expected layout and are not '
                f'converted:')
        for key in unknown:
            printer(f'  {key}')


def save_converted(state: Dict[str, Tensor], out: str, meta: dict) -> None:
    """Write ``{'state_dict': state, 'meta': meta}`` (loadable by mmengine ``load_checkpoint``,
    ``init_cfg=dict(type='Pretrained', ...)`` and ``load_from``)."""
    folder = osp.dirname(osp.abspath(out))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'output folder {folder} does not exist')
    torch.save(dict(state_dict=state, meta=meta), out)


def split_kv(weight: Tensor, name: str) -> Tuple[Tensor, Tensor]:
    """(2C, C) fused key/value projection -> (k (C, C), v (C, C))."""
    if weight.shape[0] % 2:
        raise ValueError(f'{name}: a fused kv projection needs an even first dimension, got '
                         f'{tuple(weight.shape)}')
    return weight.chunk(2, dim=0)


# ---------------------------------------------------------------------------------------------
# The Point-MAE lineage's modules (Point-MAE, ACT and ReCon share them) in pt3kd_mm names.


def block_rules(src: str, dst: str) -> List[Rule]:
    """timm-style ``Block`` keys under ``src`` (``norm1``, ``attn.qkv``, ``attn.proj``,
    ``norm2``, ``mlp.fc1``, ``mlp.fc2``) -> mmpretrain ``TransformerEncoderLayer`` keys under
    ``dst``. ``src`` / ``dst`` are regex prefixes ending in ``.``; ``src`` captures the block
    index as its only group, ``dst`` refers to it as ``\\1``."""
    return [
        (rf'^{src}norm1\.', rf'{dst}ln1.'),
        (rf'^{src}norm2\.', rf'{dst}ln2.'),
        (rf'^{src}attn\.(qkv|proj)\.', rf'{dst}attn.\2.'),
        (rf'^{src}mlp\.fc1\.', rf'{dst}ffn.layers.0.0.'),
        (rf'^{src}mlp\.fc2\.', rf'{dst}ffn.layers.1.'),
    ]


def patch_encoder_rules(src: str, dst: str) -> List[Rule]:
    """The reference's mini-PointNet ``Encoder`` (``first_conv``, ``second_conv``) and position
    MLP -> ``MiniPointNetEmbed`` / ``pos_embed`` (call ``fix_patch_embed`` on the result)."""
    return [
        (rf'^{src}encoder\.first_conv\.', rf'{dst}patch_embed.first_conv.'),
        (rf'^{src}encoder\.second_conv\.0\.', rf'{dst}patch_embed.second_fc1.'),
        (rf'^{src}encoder\.second_conv\.1\.', rf'{dst}patch_embed.second_norm.'),
        (rf'^{src}encoder\.second_conv\.3\.', rf'{dst}patch_embed.second_fc2.'),
        (rf'^{src}pos_embed\.', rf'{dst}pos_embed.'),
    ]


def fix_conv_weights(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """1x1 ``Conv1d`` / ``Conv2d`` weights (O, I, 1[, 1]) -> ``Linear`` weights (O, I), which
    pt3kd_mm writes those layers as (the same function); in place, returns ``state``."""
    for key, value in state.items():
        if key.endswith('.weight') and value.dim() >= 3 and all(d == 1 for d in value.shape[2:]):
            state[key] = value.reshape(value.shape[0], value.shape[1]).contiguous()
    return state


def fix_patch_embed(state: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    """The reference's 512 -> 512 layer reads ``[pooled (256), point (256)]``; ours reads
    ``[point, pooled]``: swap the halves of its input columns, in place."""
    key = f'{prefix}patch_embed.second_fc1.weight'
    if key in state:
        pooled, point = state[key].split(state[key].shape[1] // 2, dim=1)
        state[key] = torch.cat([point, pooled], dim=1).contiguous()
    return state


def finetune_head_rules(state: Dict[str, Tensor], src: str = 'cls_head_finetune',
                        dst: str = 'head.') -> List[Rule]:
    """The reference's fine-tuned classification head (``cls_head_finetune``) -> the mmpretrain
    head of ``PointClassifier``:

    - the MLP head ``Sequential(Linear, BN, ReLU, Dropout, Linear, BN, ReLU, Dropout, Linear)``
      (indices 0, 1, 4, 5, 8) -> ``StackedLinearClsHead(mid_channels=[256, 256])``'s
      ``layers.{0,1}.fc`` / ``layers.{0,1}.norm`` / ``layers.2.fc``;
    - the linear head ``Sequential(Linear)`` (ReCon / ACT ``linear``) -> ``LinearClsHead.fc``.

    Which one ``state`` holds is read from its keys; an unknown index stays unmatched (and is
    reported as unknown).
    """
    indices = sorted({int(m.group(1)) for k in state
                      for m in [re.match(rf'^{src}\.(\d+)\.', k)] if m})
    if indices == [0]:
        return [(rf'^{src}\.0\.', f'{dst}fc.')]
    mapping = {0: 'layers.0.fc', 1: 'layers.0.norm', 4: 'layers.1.fc', 5: 'layers.1.norm',
               8: 'layers.2.fc'}
    return [(rf'^{src}\.{i}\.', f'{dst}{name}.') for i, name in mapping.items()]
