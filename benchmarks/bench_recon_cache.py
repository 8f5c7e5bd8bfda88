"""ReCon training iteration with online teachers vs cached teacher features, and the one-off
cost of building the caches, in one run.

Reference sizes: ReCon 12x384 student (configs/recon_pretrain.py), image teacher ViT-B/16 at
224 (ImageNet-21k layout), text teacher CLIP ViT-B/32 text tower; both teachers randomly
initialised and saved to temporary files (timing does not depend on their weights). Data: the
demo objects with rendered 224 px views (tools/create_demo_data.py) through the real training
pipelines. Usage:
    python benchmarks/bench_recon_cache.py [--batch 32] [--repeats 2]
"""
import argparse
import os.path as osp
import sys
import tempfile
import time

import numpy as np
import open_clip
import timm
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))

import pt3kd_mm  # noqa: E402,F401
from cache_teacher_features import build_cache  # noqa: E402
from create_demo_data import create_demo_data  # noqa: E402
from mmdet3d.registry import DATASETS, MODELS  # noqa: E402

SHAPENET55_TRAIN = 41952  # shapes in ShapeNet-55 train.txt
SHAPENET55_CLASSES = 55


def load_batch(dataset, batch):
    """(collated batch, mean seconds of the data pipeline per sample)."""
    t = time.perf_counter()
    items = [dataset[i % len(dataset)] for i in range(batch)]
    return pseudo_collate(items), (time.perf_counter() - t) / batch


def step_time(model, batch, repeats):
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    data = model.data_preprocessor(batch, training=True)
    times = []
    for i in range(repeats + 1):  # the first is a warm-up (and builds the online teachers)
        t = time.perf_counter()
        losses = model(**data, mode='loss')
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
    parser.add_argument('--shapes-per-class', type=int, default=6)
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    MMLogger.get_current_instance().setLevel('WARNING')  # no weight-init reports
    with tempfile.TemporaryDirectory() as tmp:
        root = osp.join(tmp, 'demo')
        create_demo_data(root, train_per_class=args.shapes_per_class, test_per_class=1,
                         num_points=2048, seed=0)
        vit_path, clip_path = osp.join(tmp, 'vit_b16.pth'), osp.join(tmp, 'clip_b32.pth')
        torch.save(timm.create_model('vit_base_patch16_224', pretrained=False).state_dict(),
                   vit_path)
        torch.save(open_clip.create_model('ViT-B-32-quickgelu', pretrained=None).state_dict(),
                   clip_path)
        config = osp.join(REPO, 'configs/recon_pretrain.py')
        opts = [f'train_dataloader.dataset.data_root={root}',
                f'model.img_teacher.checkpoint={vit_path}',
                f'model.text_teacher.checkpoint={clip_path}']
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(dict(o.split('=', 1) for o in opts))

        # one-off: the caches; teacher construction (reading the weights) is timed apart
        cache_s, build_s = {}, {}
        for name in ('img', 'text'):
            t = time.perf_counter()
            MODELS.build(cfg.model[f'{name}_teacher'])
            build_s[name] = time.perf_counter() - t
            t = time.perf_counter()
            build_cache([config, '--teacher', name, '--out', osp.join(tmp, name),
                         '--num-workers', '0', '--batch-size', str(args.batch),
                         '--cfg-options', *opts])
            cache_s[name] = time.perf_counter() - t - build_s[name]
        num_shapes = 6 * args.shapes_per_class
        num_prompts = 6 * 60

        online_ds = DATASETS.build(cfg.train_dataloader.dataset)
        cached_cfg = Config.fromfile(osp.join(REPO, 'configs/recon_pretrain_cached.py'))
        cached_ds_cfg = cached_cfg.train_dataloader.dataset
        cached_ds_cfg.data_root = root
        cached_ds_cfg.pipeline[5].cache_dir = osp.join(tmp, 'img')
        cached_ds_cfg.pipeline[6].cache_dir = osp.join(tmp, 'text')
        cached_ds = DATASETS.build(cached_ds_cfg)
        np.random.seed(0)
        online_batch, online_data = load_batch(online_ds, args.batch)
        cached_batch, cached_data = load_batch(cached_ds, args.batch)

        torch.manual_seed(0)
        online_model = MODELS.build(cfg.model)
        online_model.init_weights()
        cached_model = MODELS.build(cfg.model)
        cached_model.load_state_dict(online_model.state_dict())
        online = step_time(online_model, online_batch, args.repeats)
        cached = step_time(cached_model, cached_batch, args.repeats)
        assert cached_model.teachers.built == set(), 'the cached run built a teacher'

    per_shape = cache_s['img'] / num_shapes
    per_prompt = cache_s['text'] / num_prompts
    full = per_shape * SHAPENET55_TRAIN + per_prompt * SHAPENET55_CLASSES * 60 + \
        sum(build_s.values())
    print(f'ReCon iteration, B={args.batch}, 1024 points, student 12x384, teachers ViT-B/16 '
          f'(img) + CLIP ViT-B/32 (text), {torch.get_num_threads()} threads, median of '
          f'{args.repeats}')
    print(f'| {"":<44} | {"online teachers":>15} | {"cached features":>15} | {"ratio":>6} |')
    print('|' + '|'.join('-' * w for w in (46, 17, 17, 8)) + '|')
    print(f'| {"model step s (fwd + bwd + AdamW)":<44} | {online:15.2f} | {cached:15.2f} | '
          f'{online / cached:5.2f}x |')
    print(f'| {"data pipeline ms per sample (1 process)":<44} | {online_data * 1e3:15.1f} | '
          f'{cached_data * 1e3:15.1f} | {online_data / cached_data:5.1f}x |')
    print()
    print('One-off cache build (tools/cache_teacher_features.py, 1 process, batch '
          f'{args.batch})')
    print(f'| {"cache":<38} | {"entries":>7} | {"teacher build s":>15} | {"features s":>10} | '
          f'{"ms / entry":>10} |')
    print('|' + '|'.join('-' * w for w in (40, 9, 17, 12, 12)) + '|')
    print(f'| {"img: ViT-B/16, one view per shape":<38} | {num_shapes:7d} | '
          f'{build_s["img"]:15.1f} | {cache_s["img"]:10.1f} | {per_shape * 1e3:10.1f} |')
    print(f'| {"text: CLIP ViT-B/32, 60 prompts / class":<38} | {num_prompts:7d} | '
          f'{build_s["text"]:15.1f} | {cache_s["text"]:10.1f} | {per_prompt * 1e3:10.1f} |')
    saved = online - cached
    print(f'Extrapolated to ShapeNet-55 train ({SHAPENET55_TRAIN} shapes, '
          f'{SHAPENET55_CLASSES * 60} prompts): {full / 3600:.1f} h once, against '
          f'{saved:.2f} s saved per iteration -> pays off after {full / saved:.0f} iterations '
          f'({full / saved / (SHAPENET55_TRAIN // args.batch):.1f} epochs of batch '
          f'{args.batch}).')


if __name__ == '__main__':
    main()
