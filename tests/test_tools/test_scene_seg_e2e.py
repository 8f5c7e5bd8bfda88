"""End to end on synthetic demo rooms in mmdet3d's ScanNet layout: the scene segmentor
over-fits one room through mmdet3d's ScanNetSegDataset, transforms and SegMetric with whole-room
chunked inference; tools/train.py, tools/test.py and tools/dist_train.sh run the demo config."""
import glob
import math
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet3d.datasets import ScanNetSegDataset
from pt3kd_mm.testing import REPO, run_tool

TINY = osp.join(REPO, 'tests/configs/tiny_sceneseg.py')
DEMO = osp.join(REPO, 'configs/scene_segmentation/'
                'pointscene-seg_point-mae-enc_1xb2-10e_scannet-demo-seg.py')
# the demo config's network at toy sizes, from a random start (no demo pre-training here)
TINY_MODEL = ['model.backbone.embed_dims=32', 'model.backbone.depth=2',
              'model.backbone.num_heads=2', 'model.backbone.num_groups=64',
              'model.backbone.out_indices=(0,1)', 'model.backbone.init_cfg=None',
              'model.decode_head.fp_channels=(64,)', 'model.decode_head.mlp_channels=(32,)']
VALID_IDS = ScanNetSegDataset.METAINFO['seg_valid_class_ids']  # NYU40 id of each train label


@pytest.fixture(scope='module')
def rooms(tmp_path_factory):
    """Two demo rooms of 20k points: scene0000_00 (train), scene0001_00 (val)."""
    from pt3kd_mm.testing import create_scannet_demo
    root = str(tmp_path_factory.mktemp('scannet_seg_demo'))
    create_scannet_demo(root, num_scenes=2, points_per_scene=20000, seed=0)
    return root + '/'


def raw_mask(root, scene):
    return np.fromfile(osp.join(root, 'semantic_mask', f'{scene}.bin'), dtype=np.int64)


def data_options(root):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'train_dataloader.dataset.scene_idxs={root}seg_info/train_resampled_scene_idxs.npy',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}']


@pytest.mark.e2e
def test_overfits_one_room_through_seg_metric(rooms, tmp_path):
    root = rooms
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path / 'work')
    # 150 iterations of 4 blocks from the one training room, validated on that whole room
    cfg.train_dataloader.dataset.update(data_root=root, scene_idxs=[0] * 600)
    cfg.val_dataloader.dataset.data_root = root
    # inverse-frequency class weights of the room (the room is mostly wall, floor and sofa)
    raw = raw_mask(root, 'scene0000_00')
    counts = np.array([(raw == i).sum() for i in VALID_IDS], dtype=float)
    present = counts > 0
    weights = np.where(present, counts.sum() / np.maximum(counts, 1) / present.sum(), 1.0)
    cfg.model.decode_head.loss_decode.class_weight = weights.tolist()
    cfg.optim_wrapper.optimizer.lr = 3e-3
    cfg.randomness = dict(seed=0)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    names = ScanNetSegDataset.METAINFO['classes']
    ious = {names[i]: metrics[names[i]] for i in np.flatnonzero(present)}
    assert len(ious) >= 5 and all(not math.isnan(v) for v in ious.values()), ious
    # chance (uniform guesses over the 20 classes) is below 0.05 mIoU here
    assert metrics['miou'] > 0.6, ious
    assert min(ious.values()) > 0.2, ious
    # classes absent from the room and never predicted have no IoU (nan), so mIoU is over the
    # present ones, as SegMetric defines it
    assert math.isnan(metrics['toilet']) and math.isnan(metrics['bathtub'])


@pytest.mark.e2e
def test_val_ground_truth_reaches_seg_metric_as_train_labels(rooms):
    """mmdet3d 1.4's scannet-seg test pipeline lacks PointSegClassMapping; ours maps the raw
    NYU40 ids to the 20 train labels (others -> 20, ignored) before SegMetric."""
    from mmdet3d.registry import DATASETS
    from mmdet3d.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(DEMO)
    dataset_cfg = cfg.val_dataloader.dataset
    dataset_cfg.data_root = rooms
    dataset_cfg.pop('_scope_', None)
    sample = DATASETS.build(dataset_cfg)[0]
    gt = sample['data_samples'].eval_ann_info['pts_semantic_mask']
    raw = raw_mask(rooms, 'scene0001_00')
    lookup = np.full(raw.max() + 1, 20)
    for label, nyu in enumerate(VALID_IDS):
        if nyu <= raw.max():
            lookup[nyu] = label
    np.testing.assert_array_equal(gt, lookup[raw])
    assert (gt == 20).any() and set(np.unique(gt)) <= set(range(21))


@pytest.mark.e2e
def test_demo_train_test_and_two_processes(rooms, tmp_path):
    work = str(tmp_path / 'work')
    opts = data_options(rooms) + TINY_MODEL
    run_tool([sys.executable, 'tools/train.py', DEMO, '--work-dir', work, *opts,
              'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
              'default_hooks.checkpoint.interval=2'], timeout=900)
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    out = run_tool([sys.executable, 'tools/test.py', DEMO, ckpt, '--work-dir',
                    str(tmp_path / 'test'), *opts], timeout=900)
    assert 'miou' in out and 'sofa' in out
    dist = str(tmp_path / 'dist')
    out = run_tool(['bash', 'tools/dist_train.sh', DEMO, '2', '--work-dir', dist, *opts,
                    'train_cfg.max_epochs=2', 'train_dataloader.batch_size=1',
                    'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2'],
                   timeout=900, extra_env=dict(PYTHON=sys.executable, PORT='29543'))
    assert osp.isfile(osp.join(dist, 'epoch_2.pth'))
    logs = glob.glob(osp.join(dist, '*', '*.log'))
    assert logs and all('Distributed training: True' in open(f).read() for f in logs)
