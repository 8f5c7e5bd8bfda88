"""Run a frozen teacher once over a training set and store its outputs (a memory-mapped
feature cache that ``LoadTeacherFeatures`` reads during training).

    python tools/cache_teacher_features.py CONFIG --teacher img  --out DIR [--dtype float16]
    python tools/cache_teacher_features.py CONFIG --teacher text --out DIR

``--teacher NAME`` caches ``model.<NAME>_teacher``:
``text`` (a text teacher: ``CLIPTextTeacher``, ``SentenceTextTeacher``, any teacher with
``takes_texts``): on every prompt the config's ``RandomTextPrompt`` can produce for every class
of the dataset (``name_key='category_name'``) or, with another ``name_key`` (e.g.
``'model_text'``, the per-model texts of ``ShapeNet55Dataset(texts_file=...)``), for the value
of that key of every sample; keyed by the prompt.
``img`` and any other image teacher (e.g. a ``ClipCapPrefixTeacher``): on the
augmentation-free image of every sample (``img_test_pipeline`` of the config), keyed by the
image's file name.
A teacher's output of any shape per input is stored flattened with its ``row_shape`` in
``meta.json``; ``LoadTeacherFeatures`` gives the rows back in that shape (a ClipCap prefix:
(prefix_length, 768)).

The cache is written atomically (into a temporary sibling folder of ``--out`` that replaces a
previous cache only when complete: an interrupted run leaves the old cache as it was) with the
sha256, shape and dtype of the features in ``meta.json``, which every reader verifies
(``pt3kd_mm.utils.teacher_cache``). ``--out`` must be a new folder or a previous cache.
"""
import argparse
import copy
import os.path as osp
import time
from typing import Dict, List, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Cache a frozen teacher\'s features')
    parser.add_argument('config', help='the training config (model.<name>_teacher, dataset)')
    parser.add_argument('--teacher', required=True,
                        help='NAME of the model.<NAME>_teacher to cache: img, text, or another '
                        'image teacher of the config')
    parser.add_argument('--out', required=True, help='cache folder to write')
    parser.add_argument('--dtype', choices=['float16', 'float32'], default='float16')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def _with_pipeline(dataset_cfg: dict, pipeline: list) -> dict:
    """A copy of a dataset config (ConcatDataset / wrappers included) with every leaf
    dataset's pipeline replaced."""
    cfg = copy.deepcopy(dataset_cfg)
    if 'datasets' in cfg:
        cfg['datasets'] = [_with_pipeline(d, pipeline) for d in cfg['datasets']]
    elif 'dataset' in cfg:
        cfg['dataset'] = _with_pipeline(cfg['dataset'], pipeline)
    else:
        cfg['pipeline'] = pipeline
    return cfg


def _find_transform(pipeline: list, type_name: str) -> dict:
    for t in pipeline:
        if t.get('type') == type_name:
            return t
    raise KeyError(f'the training pipeline has no {type_name}')


def _leaf_pipeline(dataset_cfg: dict) -> list:
    if 'datasets' in dataset_cfg:
        return _leaf_pipeline(dataset_cfg['datasets'][0])
    if 'dataset' in dataset_cfg:
        return _leaf_pipeline(dataset_cfg['dataset'])
    return dataset_cfg['pipeline']


@torch.no_grad()
def image_features(cfg: Config, teacher, args) -> Tuple[List[str], np.ndarray]:
    from mmdet3d.registry import DATASETS
    if 'img_test_pipeline' not in cfg:
        raise KeyError(f'{args.config} defines no img_test_pipeline (the augmentation-free '
                       f'view the image teacher sees)')
    pipeline = list(cfg.img_test_pipeline) + [
        dict(type='Pack3DDetInputs', keys=['img'], meta_keys=('img_path', ))
    ]
    dataset = DATASETS.build(_with_pipeline(cfg.train_dataloader.dataset, pipeline))
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.num_workers,
                        collate_fn=pseudo_collate, shuffle=False)
    keys, rows = [], []
    for batch in loader:
        imgs = torch.stack(batch['inputs']['img']).float().to(args.device)
        rows.append(teacher(imgs).float().cpu().numpy())
        keys.extend(osp.basename(s.img_path) for s in batch['data_samples'])
    # a shape present in two splits (ShapeNet train + test) has one view and one row
    uniq: Dict[str, int] = {}
    for i, k in enumerate(keys):
        uniq.setdefault(k, i)
    feats = np.concatenate(rows)[list(uniq.values())]
    return list(uniq), feats


@torch.no_grad()
def text_features(cfg: Config, teacher, args) -> Tuple[List[str], np.ndarray]:
    from mmdet3d.registry import DATASETS, TRANSFORMS
    ds_cfg = cfg.train_dataloader.dataset
    prompt_cfg = _find_transform(_leaf_pipeline(ds_cfg), 'RandomTextPrompt')
    prompter = TRANSFORMS.build(copy.deepcopy(prompt_cfg))
    dataset = DATASETS.build(_with_pipeline(ds_cfg, []))
    if prompter.name_key == 'category_name':
        names = dataset.metainfo.get('classes')
        if not names:
            raise ValueError('the dataset has no class names to build prompts from')
    else:  # per-sample texts (e.g. model_text): every sample's value, first occurrence first
        names = []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if prompter.name_key not in info:
                raise KeyError(f'RandomTextPrompt reads {prompter.name_key!r}, but sample {i} '
                               f'of the dataset has no such key (keys: {sorted(info)})')
            names.append(str(info[prompter.name_key]))
    names = list(dict.fromkeys(names))
    prompts = list(dict.fromkeys(p for name in names for p in prompter.all_prompts(name)))
    rows = [
        teacher(prompts[i:i + args.batch_size]).float().cpu().numpy()
        for i in range(0, len(prompts), args.batch_size)
    ]
    return prompts, np.concatenate(rows)


def build_cache(argv=None) -> str:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from pt3kd_mm.engine.config_checks import check_image_channel_order
    from pt3kd_mm.utils.teacher_cache import teacher_fingerprint, write_cache
    # img_test_pipeline must load the views in the channel order the image teacher takes
    check_image_channel_order(cfg)

    teacher_cfg = cfg.model.get(f'{args.teacher}_teacher')
    if not teacher_cfg:
        names = sorted(k[:-len('_teacher')] for k in cfg.model if k.endswith('_teacher'))
        raise KeyError(f'{args.config} has no model.{args.teacher}_teacher to cache (its '
                       f'teachers: {names})')
    fingerprint = teacher_fingerprint(teacher_cfg)
    start = time.perf_counter()
    teacher = MODELS.build(teacher_cfg).to(args.device)
    is_text = getattr(teacher, 'takes_texts', False)  # CLIPTextTeacher, SentenceTextTeacher
    fn = text_features if is_text else image_features
    keys, feats = fn(cfg, teacher, args)
    seconds = time.perf_counter() - start
    write_cache(args.out, keys, feats, fingerprint, args.dtype,
                extra=dict(kind=args.teacher, key='text' if is_text else 'img_path',
                           source_config=osp.abspath(args.config), seconds=round(seconds, 3)))
    shape = 'x'.join(str(s) for s in feats.shape[1:])
    print(f'cached {len(keys)} {args.teacher} features of shape {shape} ({args.dtype}) '
          f'in {seconds:.1f} s ({seconds / max(len(keys), 1) * 1000:.1f} ms per entry) -> '
          f'{args.out}')
    return args.out


if __name__ == '__main__':
    build_cache()
