"""Time of one ACT stage-1 step and one ACT stage-2 step relative to one Point-MAE step
(forward + backward + AdamW, B clouds of 1024 points, reference model sizes), in one run.

The 2D transformer is a randomly initialised ViT-B/16 saved to a temporary timm-layout file
(timing does not depend on its weights). Usage:
    python benchmarks/bench_act_step.py [--batch 32] [--repeats 2]
"""
import argparse
import os.path as osp
import tempfile
import time

import numpy as np
import timm
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import pt3kd_mm  # noqa: F401
from mmdet3d.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def step_time(model, points, repeats):
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for i in range(repeats + 1):  # the first is a warm-up
        t = time.perf_counter()
        losses = model(dict(points=points), mode='loss')
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    points = torch.rand(args.batch, 1024, 3)
    with tempfile.TemporaryDirectory() as tmp:
        vit_path = osp.join(tmp, 'vit_b16_384.pth')
        torch.save(timm.create_model('vit_base_patch16_384', pretrained=False).state_dict(),
                   vit_path)
        mae = MODELS.build(Config.fromfile(osp.join(REPO, 'configs/point_mae_pretrain.py')).model)
        s1_cfg = Config.fromfile(osp.join(REPO, 'configs/act_autoencoder.py')).model
        s1_cfg.vit_blocks.checkpoint = vit_path
        stage1 = MODELS.build(s1_cfg)
        stage1_path = osp.join(tmp, 'stage1.pth')
        torch.save({'state_dict': stage1.state_dict()}, stage1_path)
        s2_cfg = Config.fromfile(osp.join(REPO, 'configs/act_pretrain.py')).model
        s2_cfg.teacher.checkpoint = stage1_path
        s2_cfg.teacher.model.vit_blocks.checkpoint = vit_path
        stage2 = MODELS.build(s2_cfg)
        rows = [('Point-MAE (mask 0.6, 4-block decoder)', step_time(mae, points, args.repeats)),
                ('ACT stage 1 (dVAE + frozen ViT-B/16, 64 prompts)',
                 step_time(stage1, points, args.repeats)),
                ('ACT stage 2 (mask 0.8, 2-block decoder, teacher fwd)',
                 step_time(stage2, points, args.repeats))]
    base = rows[0][1]
    print(f'Training step, B={args.batch}, 1024 points, {torch.get_num_threads()} threads, '
          f'median of {args.repeats}')
    print(f'| {"model":<52} | {"step s":>7} | {"vs Point-MAE":>12} |')
    print('|' + '|'.join('-' * w for w in (54, 9, 14)) + '|')
    for name, t in rows:
        print(f'| {name:<52} | {t:7.2f} | {t / base:11.2f}x |')


if __name__ == '__main__':
    main()
