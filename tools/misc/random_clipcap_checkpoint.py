"""Write a randomly initialised ClipCap checkpoint (ClipCaptionModel state-dict layout).

It stands in for ClipCap's released weights where none can be downloaded (the demo, tests):
the mapping network under ``clip_project.*`` with random values, plus a few small fake GPT-2
tensors under ``gpt.*`` (which ``ClipCapPrefixTeacher`` ignores). It transfers no captioning
knowledge. The teacher config to pair it with is printed.

    python tools/misc/random_clipcap_checkpoint.py data/random_clipcap_mlp.pt
    python tools/misc/random_clipcap_checkpoint.py data/random_clipcap_tf.pt \\
        --mapping-type transformer --prefix-length 10 --clip-length 10 --num-layers 8
    python tools/misc/random_clipcap_checkpoint.py data/tiny_clipcap.pt --prefix-size 64 \\
        --prefix-length 4 --gpt-embed-dims 32
"""
import argparse

from pt3kd_mm.testing.random_clipcap import write_random_clipcap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out')
    parser.add_argument('--mapping-type', choices=['mlp', 'transformer'], default='mlp')
    parser.add_argument('--prefix-size', type=int, default=512,
                        help='the CLIP embedding width (512 for ViT-B/32)')
    parser.add_argument('--prefix-length', type=int, default=10)
    parser.add_argument('--clip-length', type=int, default=10, help='transformer only')
    parser.add_argument('--gpt-embed-dims', type=int, default=768)
    parser.add_argument('--num-layers', type=int, default=8, help='transformer only')
    parser.add_argument('--num-heads', type=int, default=8, help='transformer only')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    sizes = dict(prefix_size=args.prefix_size, prefix_length=args.prefix_length,
                 gpt_embed_dims=args.gpt_embed_dims)
    if args.mapping_type == 'transformer':
        sizes.update(clip_length=args.clip_length, num_layers=args.num_layers,
                     num_heads=args.num_heads)
    write_random_clipcap(args.out, args.mapping_type, seed=args.seed, **sizes)
    print(f'wrote a random ClipCap ({args.mapping_type} mapper) to {args.out}')
    settings = ', '.join(f'{k}={v!r}' for k, v in sizes.items())
    print(f"teacher config: dict(type='ClipCapPrefixTeacher', clip=dict(type='CLIPImageTeacher', "
          f"...), checkpoint={args.out!r}, mapping_type={args.mapping_type!r}, {settings})")


if __name__ == '__main__':
    main()
