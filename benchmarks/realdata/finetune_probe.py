"""Why a fine-tune stays at chance: the first iterations of ``run.py``'s fine-tune under variants.

    python benchmarks/realdata/finetune_probe.py --method recon \
        --ckpt work_dirs/realdata/pretrain/recon/seed0/epoch_10.pth

Builds the fine-tune model exactly as ``run.py`` does (``finetune_config``, same data, same
seed), then trains it for ``--iters`` iterations with AdamW at the recipe's learning rate and
weight decay (constant, no warm-up) under each variant, and prints the cross-entropy at the
start and the mean over the last 10 iterations (chance: ln(number of classes)):
  * ``recipe``: the recipe as ``run.py`` runs it (the method's classifier drop path);
  * ``drop_path=R``: the encoder's stochastic depth set to R;
  * ``frozen_eval``: the encoder frozen and in eval mode, only the head trained;
  * ``scratch``: the recipe from the encoder's initialisation (no checkpoint).
"""
import argparse
import math
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)


def probe(method: str, ckpt, variant: str, iters: int, seed: int, settings=None):
    """(loss of the first iteration, mean loss of the last 10, number of classes, model)."""
    import torch
    from mmengine.runner import Runner
    from mmdet3d.registry import MODELS
    import run
    s = dict(settings or run.SETTINGS)
    torch.manual_seed(seed)
    cfg = run.finetune_config(method, seed, s, '/tmp', None if variant == 'scratch' else ckpt)
    if variant.startswith('drop_path='):
        cfg.model.backbone.drop_path_rate = float(variant.split('=')[1])
    elif variant not in ('recipe', 'frozen_eval', 'scratch'):
        raise ValueError(f'unknown variant {variant!r}: recipe, drop_path=R, frozen_eval or '
                         f'scratch')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    if variant == 'frozen_eval':
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        model.backbone.eval()
    optim = cfg.optim_wrapper.optimizer
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=optim.lr, weight_decay=optim.weight_decay)
    loader = Runner.build_dataloader(cfg.train_dataloader)
    losses = []
    while len(losses) < iters:
        for batch in loader:
            data = model.data_preprocessor(batch, True)
            out = model(data['inputs'], data['data_samples'], mode='loss')
            loss = sum(v for k, v in out.items() if k.startswith('loss'))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if len(losses) == iters:
                break
    return losses[0], sum(losses[-10:]) / len(losses[-10:]), cfg.model.head.num_classes, model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--method', default='recon')
    parser.add_argument('--ckpt', required=True, help='the pre-trained checkpoint')
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--variants', nargs='+',
                        default=['recipe', 'drop_path=0.1', 'drop_path=0.0', 'frozen_eval',
                                 'scratch'])
    args = parser.parse_args(argv)
    if not osp.isfile(args.ckpt):
        raise SystemExit(f'{args.ckpt} does not exist: run benchmarks/realdata/run.py first')
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import pt3kd_mm  # noqa: F401
    rows = []
    for variant in args.variants:
        first, last, classes, _ = probe(args.method, args.ckpt, variant, args.iters,
                                        args.seed)
        rows.append((variant, first, last))
        print(f'{variant}: {first:.3f} -> {last:.3f}', flush=True)
    print(f'\n{args.method} fine-tune, {args.iters} iterations, chance ln({classes}) = '
          f'{math.log(classes):.3f}')
    print('| variant | loss at iteration 1 | mean loss, last 10 iterations |')
    print('| --- | --- | --- |')
    for variant, first, last in rows:
        print(f'| {variant} | {first:.3f} | {last:.3f} |')


if __name__ == '__main__':
    main()
