"""Convert a checkpoint of the Point-MAE repository (Pang-Yatian/Point-MAE, 7445a68) into
pt3kd_mm keys.

    # pre-trained (models/Point_MAE.py ``Point_MAE``) -> configs/point_mae_pretrain.py's model
    python tools/model_converters/point_mae_to_pt3kd.py pretrain.pth point_mae.pth
    # fine-tuned (``PointTransformer``) -> configs/classification/point_mae_*'s PointClassifier
    python tools/model_converters/point_mae_to_pt3kd.py --layout finetune \
        modelnet_1k.pth point_mae_modelnet.pth

The output is ``{'state_dict', 'meta'}`` with ``backbone.`` and ``neck.`` / ``head.`` (pre-
trained) or ``head.`` (fine-tuned: the classification head) keys: ``load_from=`` for a whole
model, or ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` for the
encoder. Keys with no counterpart here are printed by name.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from torch import Tensor

from pt3kd_mm.utils.reference_checkpoint import (Rule, block_rules, convert_keys,
                                                 finetune_head_rules, fix_conv_weights,
                                                 fix_patch_embed, load_reference_state,
                                                 patch_encoder_rules, report_keys,
                                                 require_layout, save_converted)

LAYOUTS = ('pretrain', 'finetune')


def rules(layout: str, state: Optional[Dict[str, Tensor]] = None) -> List[Rule]:
    """The renaming rules of one layout (``state``: the fine-tuned head's kind)."""
    if layout == 'pretrain':
        return [
            *patch_encoder_rules(r'MAE_encoder\.', 'backbone.'),
            *block_rules(r'MAE_encoder\.blocks\.blocks\.(\d+)\.',
                         r'backbone.transformer.blocks.\1.'),
            (r'^MAE_encoder\.norm\.', 'backbone.norm.'),
            (r'^mask_token$', 'neck.mask_token'),
            (r'^decoder_pos_embed\.', 'neck.pos_embed.'),
            *block_rules(r'MAE_decoder\.blocks\.(\d+)\.', r'neck.transformer.blocks.\1.'),
            (r'^MAE_decoder\.norm\.', 'neck.norm.'),
            (r'^increase_dim\.0\.', 'head.proj.'),
        ]
    if layout == 'finetune':
        return [
            (r'^cls_token$', 'backbone.cls_token'),
            (r'^cls_pos$', 'backbone.cls_pos'),
            *patch_encoder_rules('', 'backbone.'),
            *block_rules(r'blocks\.blocks\.(\d+)\.', r'backbone.transformer.blocks.\1.'),
            (r'^norm\.', 'backbone.norm.'),
            *finetune_head_rules(state or {}),
        ]
    raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')


REQUIRED = dict(
    pretrain=[r'^MAE_encoder\.blocks\.blocks\.0\.attn\.qkv\.weight$', r'^increase_dim\.0\.',
              r'^MAE_decoder\.blocks\.0\.'],
    finetune=[r'^cls_token$', r'^blocks\.blocks\.0\.attn\.qkv\.weight$', r'^encoder\.first_conv'])
FORBIDDEN = dict(
    # ReCon's and ACT's pre-training share MAE_encoder; their extra parts give them away
    pretrain=[r'^MAE_encoder\.(img|text)_token$', r'^MAE_encoder\.cls_token$',
              r'^(img|text)_(encoder|proj)\.', r'.*attn_contrast'],
    finetune=[r'^(img|text)_token$', r'.*attn_contrast'])


def convert(src: str,
            layout: str = 'pretrain') -> Tuple[Dict[str, Tensor], List[str], List[str]]:
    """Read ``src`` (a Point-MAE ``layout`` checkpoint) -> (pt3kd_mm state dict, keys with no
    counterpart, unknown keys)."""
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    state = load_reference_state(src)
    require_layout(state, REQUIRED[layout], f'Point-MAE {layout}', src, FORBIDDEN[layout])
    out, dropped, unknown = convert_keys(state, rules(layout, state))
    fix_patch_embed(fix_conv_weights(out), 'backbone.')
    return out, dropped, unknown


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint written by the Point-MAE repository')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--layout', choices=LAYOUTS, default='pretrain',
                        help='pretrain: Point_MAE (ShapeNet-55 pre-training); finetune: '
                        'PointTransformer (ModelNet40 / ScanObjectNN fine-tuning, with its '
                        'classification head)')
    args = parser.parse_args(argv)
    out, dropped, unknown = convert(args.src, args.layout)
    report_keys(dropped, unknown)
    save_converted(out, args.dst, dict(converted_from=osp.abspath(args.src),
                                       source='Point-MAE', layout=args.layout))
    print(f'wrote {len(out)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
