"""SVMProbeValLoop on a real CPU runner (tests/configs/tiny_point_mae.py)."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from pt3kd_mm.evaluation.metrics.svm_probe_metric import linear_svm_accuracy
from pt3kd_mm.testing import REPO

TINY = osp.join(REPO, 'tests/configs/tiny_point_mae.py')


def tiny_cfg(root, work_dir, **train_cfg):
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.test_dataloader, cfg.val_dataloader,
                   cfg.val_cfg.svm_train_dataloader):
        loader.dataset.data_root = root
        loader.update(num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(train_cfg)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    # mmengine's visualizer / logger are named singletons: one per runner of this process
    cfg.visualizer.name = cfg.experiment_name = f'svm_probe_{osp.basename(str(work_dir))}'
    return cfg


def test_val_loop_features_and_accuracy(demo_root, tmp_path):
    """The loop encodes both splits whole in eval mode; svm/accuracy is the SVM of the
    hand-pooled encoder tokens."""
    runner = Runner.from_cfg(tiny_cfg(demo_root, tmp_path))
    loop = runner.val_loop
    assert len(loop.svm_train_dataloader.dataset) == 18 and len(loop.dataloader.dataset) == 6
    runner.model.train()  # the loop must switch to eval itself
    metrics = runner.val()
    assert set(metrics) == {'svm/accuracy'} and 0 <= metrics['svm/accuracy'] <= 100
    assert not runner.model.training

    # by hand: backbone tokens of every cloud -> concat(max, mean) -> LinearSVC
    model = runner.model.eval()
    feats, labels = {}, {}
    with torch.no_grad():
        for split, loader in (('train', loop.svm_train_dataloader), ('test', loop.dataloader)):
            rows, ys = [], []
            for batch in loader:
                data = model.data_preprocessor(batch, False)
                tokens = model.backbone(data['inputs']['points'])['tokens']
                rows.append(torch.cat([tokens.amax(1), tokens.mean(1)], -1).numpy())
                ys += [s.category for s in data['data_samples']]
            feats[split], labels[split] = np.concatenate(rows), np.array(ys)
    assert feats['train'].shape == (18, 64) and sorted(set(labels['test'])) == list(range(6))
    assert runner.cfg.val_evaluator == dict(type='SVMProbeAccuracy', C=1.0, standardize=True)
    expected = linear_svm_accuracy(feats['train'], labels['train'], feats['test'],
                                   labels['test'], C=1.0, standardize=True)
    assert metrics['svm/accuracy'] == pytest.approx(expected, abs=1e-9)


def test_training_validates_and_logs_svm_accuracy(demo_root, tmp_path):
    """A training run of 2 epochs with val_interval=1 logs svm/accuracy after each epoch
    (where tools/analysis_tools/seeds.py reads it) and keeps training afterwards."""
    runner = Runner.from_cfg(tiny_cfg(demo_root, tmp_path, max_epochs=2, val_interval=1))
    runner.train()
    logs = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    lines = [json.loads(ln) for f in logs for ln in open(f)]
    vals = [ln for ln in lines if 'svm/accuracy' in ln]
    assert [ln['step'] for ln in vals] == [1, 2]  # logged by epoch
    assert sum('loss' in ln for ln in lines) == 2 * (18 // 4)  # both epochs trained


def test_unknown_feature_is_an_error(demo_root, tmp_path):
    cfg = tiny_cfg(demo_root, tmp_path)
    cfg.val_cfg.feature = 'avg'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match="val_cfg.feature.*'avg'"):
        runner.val_loop


def test_missing_probe_data_says_how_to_train_without_it(tmp_path):
    """A pre-training config whose probe data is absent fails before training, naming the file
    and the override that turns the probe off."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/point_mae_pretrain.py'))
    cfg.work_dir = str(tmp_path)
    cfg.val_dataloader.dataset.data_root = str(tmp_path / 'no_modelnet')
    cfg.val_cfg.svm_train_dataloader.dataset.data_root = str(tmp_path / 'no_modelnet')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FileNotFoundError, match=r'(?s)no_modelnet.*val_cfg=None '
                                                r'val_dataloader=None val_evaluator=None'):
        runner.val_loop
