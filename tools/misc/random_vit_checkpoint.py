"""Write a randomly initialised timm-layout ViT checkpoint.

It stands in for a pretrained 2D transformer where none can be downloaded (the demo, tests,
benchmarks): it exercises ACT's pipeline, it does not transfer any 2D knowledge.

    python tools/misc/random_vit_checkpoint.py data/demo_vit_small.pth [--arch small] [--seed 0]
"""
import argparse
import os
import os.path as osp

import timm
import torch

TIMM_NAMES = dict(small='vit_small_patch16_384', base='vit_base_patch16_384')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out')
    parser.add_argument('--arch', choices=sorted(TIMM_NAMES), default='small')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = timm.create_model(TIMM_NAMES[args.arch], pretrained=False)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f'wrote a random {TIMM_NAMES[args.arch]} to {args.out}')


if __name__ == '__main__':
    main()
