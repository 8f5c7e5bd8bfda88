"""Convert a checkpoint of the ReCon repository (qizekun/ReCon, 51a8be0) into pt3kd_mm keys.

    # pre-trained (models/ReCon.py ``ReCon``) -> configs/recon_pretrain.py's model
    python tools/model_converters/recon_to_pt3kd.py pretrain.pth recon.pth
    # fine-tuned (models/transformer.py ``PointTransformer``) -> configs/classification/recon_*'s
    # PointClassifier (backbone + head)
    python tools/model_converters/recon_to_pt3kd.py --layout finetune scan_hardest.pth out.pth

The reference keeps the cls / img / text tokens (and positions) as three parameters and fuses
the queries' key / value projection; here they are ``query_tokens`` / ``query_pos`` (1, 3, C)
and separate ``k`` / ``v`` weights. The frozen teachers the reference saves inside its
pre-trained checkpoints (``img_encoder.*``, ``text_encoder.*``) have no counterpart (teachers
are read from their own files and never stored with the student) and are printed by name. The
fine-tuned head (MLP or ``type: linear``) becomes ``head.``.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from pt3kd_mm.utils.reference_checkpoint import (Rule, block_rules, convert_keys,
                                                 finetune_head_rules, fix_conv_weights,
                                                 fix_patch_embed, load_reference_state,
                                                 patch_encoder_rules, report_keys,
                                                 require_layout, save_converted, split_kv)

LAYOUTS = ('pretrain', 'finetune')
QUERIES = ('cls', 'img', 'text')


def query_block_rules(src: str, dst: str) -> List[Rule]:
    """The queries' parts of a reference ``Block`` (``*_contrast``) -> ``GlobalQueryBlock``."""
    return [
        (rf'^{src}norm1_contrast\.', rf'{dst}ln1.'),
        (rf'^{src}norm2_contrast\.', rf'{dst}ln2.'),
        (rf'^{src}attn_contrast\.(q|k|v|proj)\.', rf'{dst}cross_attn.\2.'),
        (rf'^{src}mlp_contrast\.fc1\.', rf'{dst}ffn.layers.0.0.'),
        (rf'^{src}mlp_contrast\.fc2\.', rf'{dst}ffn.layers.1.'),
    ]


def encoder_rules(src: str, blocks: str) -> List[Rule]:
    """The ReCon encoder under ``src`` (blocks under ``blocks``) -> ``backbone.``."""
    return [
        (rf'^{src}query_(tokens|pos)$', r'backbone.query_\1'),
        *patch_encoder_rules(src, 'backbone.'),
        *block_rules(rf'{blocks}(\d+)\.', r'backbone.transformer.blocks.\1.'),
        *query_block_rules(rf'{blocks}(\d+)\.', r'backbone.query_blocks.\1.'),
        (rf'^{src}norm\.', 'backbone.norm.'),
    ]


def rules(layout: str, state: Optional[Dict[str, Tensor]] = None) -> List[Rule]:
    """The renaming rules of one layout (after ``merge_queries`` / ``split_kv_weights``;
    ``state``: the fine-tuned head's kind)."""
    if layout == 'pretrain':
        return [
            *encoder_rules(r'MAE_encoder\.', r'MAE_encoder\.blocks\.blocks\.'),
            (r'^mask_token$', 'neck.mask_token'),
            (r'^decoder_pos_embed\.', 'neck.pos_embed.'),
            *block_rules(r'MAE_decoder\.blocks\.(\d+)\.', r'neck.transformer.blocks.\1.'),
            (r'^MAE_decoder\.norm\.', 'neck.norm.'),
            (r'^increase_dim\.0\.', 'head.proj.'),
            (r'^img_proj\.', 'img_head.proj.'),
            (r'^text_proj\.', 'text_head.proj.'),
            # frozen teachers saved with the student; the self-contrastive projection (off in
            # every released config) has no counterpart either
            (r'^(img_encoder|text_encoder|cls_proj)\.', None),
        ]
    if layout == 'finetune':
        return [
            *encoder_rules('', r'blocks\.blocks\.'),
            *finetune_head_rules(state or {}),
            (r'^(img_proj|text_proj)\.', None),  # PointTransformerZeroShot's projections
        ]
    raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')


REQUIRED = dict(
    pretrain=[r'^MAE_encoder\.img_token$', r'^MAE_encoder\.blocks\.blocks\.0\.attn_contrast\.',
              r'^increase_dim\.0\.'],
    finetune=[r'^img_token$', r'^blocks\.blocks\.0\.attn_contrast\.'])


def merge_queries(state: Dict[str, Tensor], prefix: str) -> None:
    """``{prefix}{cls,img,text}_{token,pos}`` (1, 1, C) each -> ``{prefix}query_tokens`` /
    ``{prefix}query_pos`` (1, 3, C), in place."""
    for kind, merged in (('token', 'query_tokens'), ('pos', 'query_pos')):
        keys = [f'{prefix}{q}_{kind}' for q in QUERIES]
        missing = [k for k in keys if k not in state]
        if missing:
            raise KeyError(f'ReCon checkpoint without {missing}: the three global queries '
                           f'are {keys}')
        state[f'{prefix}{merged}'] = torch.cat([state.pop(k) for k in keys], dim=1)


def split_kv_weights(state: Dict[str, Tensor]) -> None:
    """Every ``attn_contrast.kv.weight`` (2C, C) -> ``attn_contrast.k.weight`` and
    ``attn_contrast.v.weight`` (C, C), in place (the reference has no kv bias)."""
    for key in [k for k in state if k.endswith('attn_contrast.kv.weight')]:
        k, v = split_kv(state.pop(key), key)
        state[key.replace('.kv.', '.k.')] = k.contiguous()
        state[key.replace('.kv.', '.v.')] = v.contiguous()


def convert(src: str,
            layout: str = 'pretrain') -> Tuple[Dict[str, Tensor], List[str], List[str]]:
    """Read ``src`` (a ReCon ``layout`` checkpoint) -> (pt3kd_mm state dict, keys with no
    counterpart, unknown keys)."""
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    state = load_reference_state(src)
    require_layout(state, REQUIRED[layout], f'ReCon {layout}', src)
    merge_queries(state, 'MAE_encoder.' if layout == 'pretrain' else '')
    split_kv_weights(state)
    out, dropped, unknown = convert_keys(state, rules(layout, state))
    fix_patch_embed(fix_conv_weights(out), 'backbone.')
    return out, dropped, unknown


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint written by the ReCon repository')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--layout', choices=LAYOUTS, default='pretrain',
                        help='pretrain: ReCon (ShapeNet-55 pre-training); finetune: '
                        'PointTransformer (ModelNet40 / ScanObjectNN fine-tuning)')
    args = parser.parse_args(argv)
    out, dropped, unknown = convert(args.src, args.layout)
    report_keys(dropped, unknown)
    save_converted(out, args.dst, dict(converted_from=osp.abspath(args.src), source='ReCon',
                                       layout=args.layout))
    print(f'wrote {len(out)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
