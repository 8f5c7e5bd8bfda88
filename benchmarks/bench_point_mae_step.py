"""Time of one Point-MAE training step (forward + backward + AdamW) on CPU, ours vs a
re-implementation of the reference's order of operations, in one run, with a per-stage
breakdown.

Both: B clouds of 1024 points, 64 groups x 32, 12 x 384 encoder (6 heads), 4-block decoder,
mask ratio 0.6, Chamfer-L2 on masked groups, the same grouping (numba) and loss. They differ
only where the reference spends time:
  * reference: mini-PointNet (Conv1d) over ALL 64 groups, then drops the masked tokens; the
    512 -> 512 layer runs on the concatenated [point, pooled] features of every point;
    attention as explicit softmax(q k^T) v (timm Block).
  * pt3kd_mm: embeds only the visible groups; the pooled half of the 512 -> 512 layer runs once
    per group; attention via F.scaled_dot_product_attention (mmpretrain's layer).
Usage: python benchmarks/bench_point_mae_step.py [--batch 32] [--repeats 3]
"""
import argparse
import time
from collections import defaultdict

import numpy as np
import torch
from torch import nn

import pt3kd_mm  # noqa: F401
from mmdet3d.registry import MODELS
from mmengine.registry import init_default_scope
from pt3kd_mm.models.layers import center_pos_embed, group_points
from pt3kd_mm.models.losses import chamfer_distance_l2
from pt3kd_mm.models.utils import random_group_mask


# ---------------------------------------------------------------- reference-order model
class RefAttention(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(
            2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class RefBlock(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = RefAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RefEncoder(nn.Module):  # mini-PointNet with Conv1d over every point of every group

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.first = nn.Sequential(nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128), nn.ReLU(True),
                                   nn.Conv1d(128, 256, 1))
        self.second = nn.Sequential(nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512),
                                    nn.ReLU(True), nn.Conv1d(512, c, 1))

    def forward(self, g):
        b, n, k, _ = g.shape
        f = self.first(g.reshape(b * n, k, 3).transpose(2, 1))
        pooled = f.max(2, keepdim=True)[0]
        f = torch.cat([pooled.expand(-1, -1, k), f], dim=1)
        return self.second(f).max(2)[0].reshape(b, n, self.c)


class RefPointMAE(nn.Module):

    def __init__(self, c=384, depth=12, dec_depth=4, heads=6, k=32):
        super().__init__()
        self.k = k
        self.encoder = RefEncoder(c)
        self.pos = center_pos_embed(c)
        self.blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(c)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        self.dec_pos = center_pos_embed(c)
        self.dec_blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(dec_depth)])
        self.dec_norm = nn.LayerNorm(c)
        self.head = nn.Conv1d(c, 3 * k, 1)

    def stages(self, neigh, centers, mask):
        b, g, k, _ = neigh.shape
        yield 'patch embed'
        tokens = self.encoder(neigh)  # all groups
        x = tokens[~mask].reshape(b, -1, tokens.shape[-1])
        pos = self.pos(centers[~mask].reshape(b, -1, 3))
        yield 'encoder'
        for blk in self.blocks:
            x = blk(x + pos)
        x = self.norm(x)
        yield 'decoder'
        pv = self.dec_pos(centers[~mask].reshape(b, -1, 3))
        pm = self.dec_pos(centers[mask].reshape(b, -1, 3))
        m = pm.shape[1]
        x = torch.cat([x, self.mask_token.expand(b, m, -1)], 1)
        p = torch.cat([pv, pm], 1)
        for blk in self.dec_blocks:
            x = blk(x + p)
        x = self.dec_norm(x[:, -m:])
        yield 'head + loss'
        rec = self.head(x.transpose(1, 2)).transpose(1, 2).reshape(b * m, -1, 3)
        gt = neigh[mask].reshape(b * m, -1, 3)
        self.loss = chamfer_distance_l2(rec, gt)


def ours_stages(model, neigh, centers, mask):
    bb = model.backbone
    b, _, k, _ = neigh.shape
    yield 'patch embed'
    tokens = bb.patch_embed(neigh[~mask].reshape(b, -1, k, 3))
    yield 'encoder'
    x, _ = bb.encode(tokens, centers[~mask].reshape(b, -1, 3))
    yield 'decoder'
    x = model.neck(x, centers, mask)
    yield 'head + loss'
    target = neigh[mask].reshape(b, -1, k, 3)
    model.loss_value = model.head.loss(x, target)


def step(name, model, points, timings):
    opt = model._opt
    t0 = time.perf_counter()
    neigh, centers, _, _ = group_points(points, 64, 32)
    mask = random_group_mask(points.shape[0], 64, 0.6)
    timings['grouping + mask'].append(time.perf_counter() - t0)
    gen = model.stages(neigh, centers, mask) if name == 'ref' else ours_stages(
        model, neigh, centers, mask)
    stage, t = next(gen), time.perf_counter()
    for nxt in gen:
        now = time.perf_counter()
        timings[stage].append(now - t)
        stage, t = nxt, now
    now = time.perf_counter()
    timings[stage].append(now - t)
    loss = model.loss if name == 'ref' else model.loss_value
    t = time.perf_counter()
    opt.zero_grad()
    loss.backward()
    timings['backward'].append(time.perf_counter() - t)
    t = time.perf_counter()
    opt.step()
    timings['AdamW step'].append(time.perf_counter() - t)
    timings['total'].append(time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    ours = MODELS.build(dict(
        type='PointMAE', backbone=dict(type='PointPatchTransformer'),
        neck=dict(type='PointMAEDecoder'), head=dict(type='PointReconstructionHead')))
    ref = RefPointMAE()
    results = {}
    for name, model in (('ref', ref), ('ours', ours)):
        model.train()
        model._opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        points = torch.rand(args.batch, 1024, 3)
        warm = defaultdict(list)
        step(name, model, points, warm)  # warm-up (allocator, jit)
        timings = defaultdict(list)
        for _ in range(args.repeats):
            step(name, model, points, timings)
        results[name] = {k: float(np.median(v)) for k, v in timings.items()}
    print(f'Point-MAE step, B={args.batch}, 1024 points, 64x32 groups, 12x384 encoder, '
          f'4-block decoder, {torch.get_num_threads()} threads, median of {args.repeats}')
    print(f'| {"stage":<16} | {"reference s":>11} | {"pt3kd_mm s":>10} | {"ratio":>6} |')
    print('|' + '|'.join('-' * w for w in (18, 13, 12, 8)) + '|')
    order = ['grouping + mask', 'patch embed', 'encoder', 'decoder', 'head + loss',
             'backward', 'AdamW step', 'total']
    for k in order:
        r, o = results['ref'][k], results['ours'][k]
        print(f'| {k:<16} | {r:11.3f} | {o:10.3f} | {o / r:6.2f} |')


if __name__ == '__main__':
    main()
