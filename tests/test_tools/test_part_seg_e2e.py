"""End to end: a tiny part segmentor over-fits a few generated ShapeNetPart shapes through the
real runner, data pipeline and ShapeNetPartMetric, clearly above chance."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from pt3kd_mm.evaluation.metrics import shape_part_iou, summarize_part_ious
from pt3kd_mm.testing import REPO, create_shapenetpart_demo
from pt3kd_mm.utils.shapenet_part import SHAPENET_PART_CATEGORY_PARTS, SHAPENET_PART_CLASSES

CATEGORIES = ('Airplane', 'Bag', 'Mug')


def chance_instance_miou(dataset, seed=0):
    """Instance mIoU of uniformly random predictions among each shape's category's parts."""
    rng = np.random.default_rng(seed)
    ious, cats = [], []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        labels = np.loadtxt(info['pc_path'])[:, 6].astype(int)
        parts = SHAPENET_PART_CATEGORY_PARTS[info['category']]
        ious.append(shape_part_iou(rng.choice(parts, labels.size), labels, parts))
        cats.append(info['category'])
    return summarize_part_ious(ious, cats, SHAPENET_PART_CLASSES)['instance_miou']


@pytest.mark.e2e
def test_overfit_a_few_shapes(tmp_path):
    root = str(tmp_path / 'shapenetcore_partanno_segmentation_benchmark_v0_normal')
    create_shapenetpart_demo(root, categories=CATEGORIES,
                             per_split=dict(train=4, val=0, test=0), seed=0)
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_partseg.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.randomness = dict(seed=0)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.update(data_root=root, split='train')  # evaluate the training shapes
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    chance = chance_instance_miou(runner.test_dataloader.dataset)
    assert 0.2 < chance < 0.45  # 4-part airplanes and 2-part bags / mugs
    assert metrics['instance_miou'] > max(0.75, chance + 0.35), (metrics, chance)
    assert metrics['class_miou'] > 0.7 and metrics['accuracy'] > 0.8
    assert set(metrics) >= {f'{c}_miou' for c in CATEGORIES}
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_30.pth'))
