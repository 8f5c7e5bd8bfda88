"""Write a randomly initialised open_clip CLIP checkpoint and its model config.

It stands in for pretrained CLIP weights where none can be downloaded (the demo, tests,
benchmarks): it exercises ReCon's teachers and pipeline, it does not transfer any 2D or
language knowledge. The model config is written next to the weights as ``<path>.json`` and
printed, to paste into a teacher config (``model_cfg=...``).

    python tools/misc/random_clip_checkpoint.py data/demo_clip_random.pth --preset demo
    python tools/misc/random_clip_checkpoint.py data/random_vit_b_32.pth --model-name ViT-B-32
"""
import argparse
import json
import pprint

from pt3kd_mm.testing.random_clip import (DEMO_CLIP_CFG, PRESETS, TINY_CLIP_CFG,  # noqa: F401
                                          write_random_clip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out')
    parser.add_argument('--model-name', default=None,
                        help='a built-in open_clip model (default: the tiny TINY_CLIP_CFG)')
    parser.add_argument('--config', default=None, help='a JSON file with an open_clip model config')
    parser.add_argument('--preset', choices=sorted(PRESETS), default=None,
                        help='a built-in small config (tiny: tests; demo: the demo config)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    model_cfg = None
    if args.config:
        with open(args.config) as f:
            model_cfg = json.load(f)
    elif args.preset:
        model_cfg = PRESETS[args.preset]
    write_random_clip(args.out, model_cfg=model_cfg, model_name=args.model_name, seed=args.seed)
    with open(f'{args.out}.json') as f:
        cfg = json.load(f)
    print(f'wrote a random CLIP to {args.out} and its config to {args.out}.json')
    if args.model_name:
        print(f'teacher config: model_name={args.model_name!r}, checkpoint={args.out!r}')
    else:
        print(f'teacher config: checkpoint={args.out!r}, model_cfg=')
        print(pprint.pformat(cfg, sort_dicts=False))


if __name__ == '__main__':
    main()
