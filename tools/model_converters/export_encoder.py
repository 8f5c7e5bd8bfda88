"""Export the encoder of a training checkpoint: only the backbone's weights, keys without the
``backbone.`` prefix, no optimiser / teacher / decoder state.

    python tools/model_converters/export_encoder.py work_dirs/x/epoch_300.pth encoder.pth

Load the result with ``backbone=dict(type='PointPatchTransformer', ...,
init_cfg=dict(type='Pretrained', checkpoint='encoder.pth'))``.
"""
import argparse
import os.path as osp

import torch

from pt3kd_mm.utils.checkpoint import load_local_checkpoint


def export_encoder(src: str, dst: str, prefix: str = 'backbone.') -> int:
    """Write the weights under ``prefix`` of ``src`` to ``dst``; returns how many tensors."""
    ckpt = load_local_checkpoint(src, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not encoder:
        heads = sorted({k.split('.')[0] for k in state})
        raise KeyError(f'{src} has no weights under {prefix!r}; its top-level modules are '
                       f'{heads}')
    meta = dict(source=osp.abspath(src), prefix=prefix)
    if isinstance(ckpt.get('meta'), dict):
        meta.update({k: ckpt['meta'][k] for k in ('epoch', 'iter') if k in ckpt['meta']})
    torch.save(dict(state_dict=encoder, meta=meta), dst)
    return len(encoder)


def main() -> None:
    parser = argparse.ArgumentParser(description='Export the encoder of a checkpoint')
    parser.add_argument('src', help='training checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--prefix', default='backbone.', help='module to export')
    args = parser.parse_args()
    n = export_encoder(args.src, args.dst, args.prefix)
    print(f'wrote {n} tensors of {args.prefix!r} to {args.dst}')


if __name__ == '__main__':
    main()
