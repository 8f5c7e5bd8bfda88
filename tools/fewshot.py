"""Few-shot ModelNet40: fine-tune a config on each fold of a way x shot setting and report the
mean +- std of the folds' accuracies.

    python tools/fewshot.py configs/classification/point_mae_fewshot_modelnet40.py \
        --way 5 --shot 10 --folds 0-9 --folds-dir data/ModelNetFewshot \
        --modelnet-root data/ModelNet/modelnet40_normal_resampled

Folds live in ``--folds-dir`` in the reference layout (``{way}way_{shot}shot/{fold}.pkl``):
the reference's files are used as they are; a missing fold is sampled from ModelNet40
(``--modelnet-root``, with the reference's ``.dat`` files when ``--processed-file`` names them)
deterministically from ``--seed``, written once and reused. Each fold trains in-process through
the MMEngine runner under ``WORK_DIR/{way}way_{shot}shot/fold{k}``; its score is the best
validation accuracy over the epochs (the reference runners report their best epoch on the
fold's test shapes). The table (per fold, mean, std) is printed and written to
``WORK_DIR/fewshot_{way}way_{shot}shot.md``.
"""
import argparse
import os
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: test shapes per class in a fold (the reference's eval_sample)
EVAL_PER_CLASS = 20


def sample_fold(train_labels: Sequence[int], test_labels: Sequence[int], way: int, shot: int,
                rng: np.random.Generator,
                eval_per_class: int = EVAL_PER_CLASS) -> Dict[str, List[Tuple[int, int, int]]]:
    """Pick ``way`` classes, ``shot`` training and ``eval_per_class`` test shapes of each.

    Returns:
        {'train': [(index into the train split, label 0..way-1, ModelNet class), ...],
        'test': [...]}, each list shuffled.
    """
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    classes = np.unique(train_labels)
    if len(classes) < way:
        raise ValueError(f'{way}-way needs {way} classes; the train split has {len(classes)}')
    chosen = rng.permutation(classes)[:way]
    out = dict(train=[], test=[])
    for label, cls in enumerate(chosen):
        for split, labels, count in (('train', train_labels, shot),
                                     ('test', test_labels, eval_per_class)):
            pool = np.flatnonzero(labels == cls)
            if len(pool) < count:
                raise ValueError(f'class {cls} has {len(pool)} {split} shapes, fewer than the '
                                 f'{count} a {way}-way {shot}-shot fold takes')
            out[split] += [(int(i), label, int(cls)) for i in rng.choice(pool, count, False)]
    for split in out:
        out[split] = [out[split][i] for i in rng.permutation(len(out[split]))]
    return out


def _load_split(modelnet_root: str, split: str, processed_file: Optional[str]):
    """(ModelNet40PointDataset of ``split``, its labels)."""
    from mmdet3d.registry import DATASETS
    import pt3kd_mm  # noqa: F401
    dataset = DATASETS.build(
        dict(type='ModelNet40PointDataset', data_root=modelnet_root, split=split,
             processed_file=processed_file, lazy_init=False, serialize_data=False))
    return dataset, [dataset.get_data_info(i)['category'] for i in range(len(dataset))]


def _cloud(dataset, index: int) -> np.ndarray:
    info = dataset.get_data_info(index)
    if 'points' in info:
        return info['points']
    with open(info['pc_path']) as f:
        return np.loadtxt(f, delimiter=',', dtype=np.float32, ndmin=2)


def ensure_folds(folds_dir: str, way: int, shot: int, folds: Sequence[int], seed: int,
                 modelnet_root: Optional[str] = None, processed_file: Optional[str] = None,
                 eval_per_class: int = EVAL_PER_CLASS) -> List[str]:
    """The fold files of ``way`` x ``shot`` under ``folds_dir``; missing ones are sampled (from
    ``seed``, way, shot and the fold number) and written. Returns their paths."""
    from pt3kd_mm.datasets.modelnet_fewshot import fold_path
    paths = [fold_path(folds_dir, way, shot, k) for k in folds]
    missing = [(k, p) for k, p in zip(folds, paths) if not osp.isfile(p)]
    if not missing:
        return paths
    if modelnet_root is None:
        raise FileNotFoundError(f'fold files {[p for _, p in missing]} do not exist; pass '
                                f'--modelnet-root to sample and write them')
    train_set, train_labels = _load_split(modelnet_root, 'train', processed_file)
    test_set, test_labels = _load_split(modelnet_root, 'test', processed_file)
    for k, path in missing:
        rng = np.random.default_rng([seed, way, shot, k])
        picked = sample_fold(train_labels, test_labels, way, shot, rng, eval_per_class)
        fold = dict(
            train=[(_cloud(train_set, i), label, cls) for i, label, cls in picked['train']],
            test=[(_cloud(test_set, i), label, cls) for i, label, cls in picked['test']])
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            pickle.dump(fold, f)
        print(f'wrote {path}')
    return paths


def summarize(values: Sequence[float]) -> Tuple[float, float]:
    """(mean, standard deviation over the folds (numpy's, ddof=0))."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std())


def format_table(way: int, shot: int, scores: Dict[int, float]) -> str:
    """A markdown table: one row per fold, then mean +- std (accuracy in %)."""
    mean, std = summarize(list(scores.values()))
    lines = [f'# few-shot ModelNet40, {way}-way {shot}-shot', '', '| fold | accuracy |',
             '| --- | --- |']
    lines += [f'| {k} | {v:.2f} |' for k, v in sorted(scores.items())]
    lines.append(f'| mean +- std ({len(scores)} folds) | {mean:.2f} +- {std:.2f} |')
    return '\n'.join(lines) + '\n'


def fold_config(config: str, folds_dir: str, way: int, shot: int, fold: int, work_dir: str,
                cfg_options: Optional[dict] = None):
    """``config`` with its train / val / test datasets set to one fold."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        if dataset.type != 'ModelNet40FewShotDataset':
            raise ValueError(f'{config}: {loader}.dataset is {dataset.type}, not '
                             f'ModelNet40FewShotDataset (use a *_fewshot_* config)')
        dataset.update(data_root=folds_dir, way=way, shot=shot, fold=fold)
    cfg.work_dir = work_dir
    return cfg


def run_fold(cfg) -> float:
    """Train ``cfg`` (one fold); its best validation accuracy (top-1, %)."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    best = runner.message_hub.get_info('best_score')
    if best is None:
        raise KeyError('no best_score recorded: the config needs validation and '
                       "default_hooks.checkpoint.save_best='accuracy/top1'")
    return float(best)


def parse_folds(text: str) -> List[int]:
    """'0-9' -> [0..9]; '0,3,5' -> [0, 3, 5]."""
    folds = []
    for part in text.split(','):
        lo, _, hi = part.partition('-')
        folds += list(range(int(lo), int(hi or lo) + 1))
    return folds


def main(argv=None) -> int:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a *_fewshot_modelnet40.py config')
    parser.add_argument('--way', type=int, required=True, choices=(5, 10))
    parser.add_argument('--shot', type=int, required=True, choices=(10, 20))
    parser.add_argument('--folds', default='0-9', help="e.g. '0-9' (default) or '0,1'")
    parser.add_argument('--folds-dir', default='data/ModelNetFewshot')
    parser.add_argument('--modelnet-root', default=None,
                        help='ModelNet40 (modelnet40_normal_resampled) to sample missing folds')
    parser.add_argument('--processed-file', default=None,
                        help="e.g. 'modelnet40_{split}_8192pts_fps.dat' (the reference's)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the fold sampling')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    args = parser.parse_args(argv)

    folds = parse_folds(args.folds)
    ensure_folds(args.folds_dir, args.way, args.shot, folds, args.seed, args.modelnet_root,
                 args.processed_file)
    work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    setting = f'{args.way}way_{args.shot}shot'
    scores = {}
    for k in folds:
        cfg = fold_config(args.config, args.folds_dir, args.way, args.shot, k,
                          osp.join(work_dir, setting, f'fold{k}'), args.cfg_options)
        scores[k] = run_fold(cfg)
        print(f'{setting} fold {k}: {scores[k]:.2f}')
    table = format_table(args.way, args.shot, scores)
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, f'fewshot_{setting}.md')
    with open(out, 'w') as f:
        f.write(table)
    print(table)
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
