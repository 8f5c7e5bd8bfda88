"""check_batches_per_epoch on a real CPU runner (tests/configs/tiny_point_mae.py) with a
dataset smaller than one batch."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from pt3kd_mm.datasets.dataloader_checks import check_batches_per_epoch
from pt3kd_mm.testing import REPO


def tiny_runner(demo_root, tmp_path, name, **train_loader):
    split = osp.join(demo_root, 'ShapeNet-55', 'train.txt')
    with open(split) as f:
        lines = f.readlines()[:3]
    three = tmp_path / 'train3.txt'
    three.write_text(''.join(lines))
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_point_mae.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.dataset.update(data_root=demo_root, ann_file=str(three))
    cfg.train_dataloader.update(train_loader)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.visualizer.name = cfg.experiment_name = f'loader_checks_{name}'
    return Runner.from_cfg(cfg)


def test_dataset_smaller_than_a_batch(demo_root, tmp_path):
    runner = tiny_runner(demo_root, tmp_path, 'small', batch_size=8, drop_last=True)
    with pytest.raises(ValueError, match=r"train_dataloader yields no batch per epoch: its "
                       r"dataset ShapeNet55Dataset\(ann_file='.*train3.txt'.*\) has 3 samples "
                       r"\(3 per process over 1 process\(es\)\), fewer than one batch "
                       r"\(batch_size=8, drop_last=True\).*lower train_dataloader.batch_size "
                       r"to at most 3, set train_dataloader.drop_last=False"):
        check_batches_per_epoch(runner)
    # the failure it replaces: mmengine's scheduler conversion (the runner reuses the loop)
    with pytest.raises(AssertionError, match='epoch_length` must be a positive integer, but '
                       'got 0'):
        runner.train()


def test_a_batch_per_epoch_passes(demo_root, tmp_path):
    runner = tiny_runner(demo_root, tmp_path, 'ok', batch_size=8, drop_last=False)
    check_batches_per_epoch(runner)
    assert len(runner.train_dataloader) == 1
