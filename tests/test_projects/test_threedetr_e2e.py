"""End to end on the synthetic demo rooms in mmdet3d's ScanNet layout: the detector over-fits
two rooms through mmdet3d's IndoorMetric; tools/train.py, tools/test.py, tools/dist_train.sh and
mmdet3d's inference API run the demo config."""
import glob
import math
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from pt3kd_mm.testing import REPO, run_tool

TINY = osp.join(REPO, 'tests/configs/tiny_threedetr.py')
DEMO = osp.join(REPO, 'projects/ThreeDETR/configs/threedetr_3detr-enc_1xb2-10e_scannet-demo-3d.py')
DEMO_CLASSES = ('cabinet', 'bed', 'chair', 'sofa', 'table', 'bookshelf')


@pytest.fixture(scope='module')
def rooms(tmp_path_factory):
    """Three demo rooms (two train, one val) in mmdet3d's ScanNet layout."""
    from pt3kd_mm.testing import create_scannet_demo
    root = str(tmp_path_factory.mktemp('scannet_demo'))
    known = create_scannet_demo(root, num_scenes=3, points_per_scene=50000, seed=0)
    return root + '/', known


def data_options(root):
    return ['--cfg-options', f'train_dataloader.dataset.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}']


@pytest.mark.e2e
def test_overfits_two_rooms_through_indoor_metric(rooms, tmp_path):
    root, known = rooms
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.dataset.dataset.data_root = root
    cfg.val_dataloader.dataset.data_root = root
    cfg.test_dataloader.dataset.data_root = root
    cfg.randomness = dict(seed=0)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    present = {o['name'] for scene in ('scene0000_00', 'scene0001_00') for o in known[scene]
               if o['name']}
    aps = [metrics[f'{name}_AP_0.25'] for name in sorted(present)]
    assert all(not math.isnan(ap) for ap in aps)
    assert np.mean(aps) > 0.5, dict(zip(sorted(present), aps))
    # classes absent from the rooms have no ground truth: IndoorMetric gives them nan
    assert all(math.isnan(metrics[f'{c}_AP_0.25']) for c in ('door', 'toilet'))


@pytest.mark.e2e
def test_demo_train_test_and_inference_api(rooms, tmp_path):
    root, _ = rooms
    work = str(tmp_path / 'work')
    opts = data_options(root)
    run_tool([sys.executable, 'tools/train.py', DEMO, '--work-dir', work, *opts,
              'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
              'default_hooks.checkpoint.interval=2'], timeout=900)
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    out = run_tool([sys.executable, 'tools/test.py', DEMO, ckpt, '--work-dir',
                    str(tmp_path / 'test'), *opts], timeout=900)
    assert 'sofa_AP_0.25' in out and 'mAP_0.50' in out

    from mmdet3d.apis import inference_detector, init_model
    model = init_model(DEMO, ckpt, device='cpu')
    scene = osp.join(root, 'points', 'scene0000_00.bin')
    assert np.fromfile(scene, dtype=np.float32).size // 6 >= 40000
    result, _ = inference_detector(model, scene)
    pred = result.pred_instances_3d
    assert len(pred.bboxes_3d) == len(pred.scores_3d) == len(pred.labels_3d) > 0
    assert pred.bboxes_3d.tensor.shape[-1] == 7 and pred.labels_3d.max() < 18


@pytest.mark.e2e
def test_two_process_training(rooms, tmp_path):
    root, _ = rooms
    work = str(tmp_path / 'dist')
    out = run_tool(['bash', 'tools/dist_train.sh', DEMO, '2', '--work-dir', work,
                    *data_options(root), 'train_cfg.max_epochs=2',
                    'train_dataloader.batch_size=1', 'train_cfg.val_interval=100',
                    'default_hooks.checkpoint.interval=2'],
                   timeout=900, extra_env=dict(PYTHON=sys.executable, PORT='29541'))
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    assert 'Epoch(train) [2][1/1]' in out  # 2 train rooms over 2 ranks, batch 1
    logs = glob.glob(osp.join(work, '*', '*.log'))
    assert logs and all('Distributed training: True' in open(f).read() for f in logs)
