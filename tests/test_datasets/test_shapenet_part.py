"""ShapeNetPart reader and pipeline on a tiny dataset written in the benchmark's layout."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from mmdet3d.registry import DATASETS, TRANSFORMS
from pt3kd_mm.testing import REPO, create_shapenetpart_demo
from pt3kd_mm.utils.shapenet_part import SHAPENET_PART_CATEGORY_PARTS


@pytest.fixture(scope='module')
def part_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shapenetpart') /
               'shapenetcore_partanno_segmentation_benchmark_v0_normal')
    create_shapenetpart_demo(root, categories=('Airplane', 'Mug'),
                             per_split=dict(train=2, val=1, test=1), seed=0)
    return root


def build(root, split, pipeline=()):
    return DATASETS.build(dict(type='ShapeNetPartDataset', data_root=root, split=split,
                               pipeline=list(pipeline)))


def test_splits_categories_and_order(part_root):
    train, val = build(part_root, 'train'), build(part_root, 'val')
    trainval, test = build(part_root, 'trainval'), build(part_root, 'test')
    assert (len(train), len(val), len(trainval), len(test)) == (4, 2, 6, 2)
    infos = [trainval.get_data_info(i) for i in range(len(trainval))]
    # Airplane is category 0, Mug 11 (line order of synsetoffset2category.txt)
    assert [i['category'] for i in infos] == [0, 0, 0, 11, 11, 11]
    assert [i['category_name'] for i in infos[::3]] == ['Airplane', 'Mug']
    assert infos[0]['parts'] == (0, 1, 2, 3) and infos[3]['parts'] == (36, 37)
    ids = [i['shape_id'] for i in infos[:3]]
    assert ids == sorted(ids) and infos[0]['pc_path'] == osp.join(part_root, '02691156',
                                                                  ids[0] + '.txt')
    assert trainval.metainfo['category_parts'] == SHAPENET_PART_CATEGORY_PARTS
    assert len(trainval.metainfo['classes']) == 16


def test_loading_normalising_and_resampling_keep_labels(part_root):
    test = build(part_root, 'test')
    raw = np.loadtxt(test.get_data_info(0)['pc_path'])
    load = TRANSFORMS.build(dict(type='LoadShapeNetPartPoints'))
    results = load(dict(test.get_data_info(0)))
    assert results['points'].shape == (raw.shape[0], 3)
    np.testing.assert_allclose(results['points'], raw[:, :3], rtol=1e-6)
    assert np.array_equal(results['pts_semantic_mask'], raw[:, 6].astype(int))

    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/shapenetpart.py'))
    for name in ('train_pipeline', 'test_pipeline'):
        np.random.seed(0)
        data = DATASETS.build(dict(type='ShapeNetPartDataset', data_root=part_root,
                                   split='test', pipeline=cfg[name]))
        raw = np.loadtxt(data.get_data_info(0)['pc_path'])
        xyz = raw[:, :3] - raw[:, :3].mean(0)
        xyz /= np.linalg.norm(xyz, axis=1).max()
        item = data[0]
        points = item['inputs']['points']
        labels = item['data_samples'].gt_pts_seg.pts_semantic_mask.numpy()
        assert points.shape == (2048, 3) and labels.shape == (2048, )
        assert item['data_samples'].metainfo['category'] == 0
        if name == 'test_pipeline':
            # every sampled point is a row of the normalised shape, with that row's label
            d = ((points[:, None] - xyz[None])**2).sum(-1)
            assert d.min(1).max() < 1e-10
            assert np.array_equal(labels, raw[d.argmin(1), 6].astype(int))
        assert set(labels) <= set(SHAPENET_PART_CATEGORY_PARTS[0])
    # a shape with fewer than 2048 points is resampled with replacement (the reference)
    sample = TRANSFORMS.build(dict(type='PointSubsample', num_points=2048, replace=True))
    small = sample(dict(points=np.arange(300.)[:, None].repeat(3, 1),
                        pts_semantic_mask=np.arange(300)))
    assert small['points'].shape == (2048, 3)
    assert np.array_equal(small['points'][:, 0], small['pts_semantic_mask'])
    assert len(np.unique(small['pts_semantic_mask'])) > 250
    with pytest.raises(ValueError, match="replace=True needs method='random'"):
        TRANSFORMS.build(dict(type='PointSubsample', num_points=8, method='fps', replace=True))


def test_isotropic_scale_and_shift():
    np.random.seed(3)
    t = TRANSFORMS.build(dict(type='RandomScaleTranslate', scale_range=(0.8, 1.25),
                              translate_range=0.1, per_axis_scale=False))
    pts = np.random.randn(50, 3).astype(np.float32)
    out = t(dict(points=pts.copy()))['points']
    # out = s * pts + shift with one s: differences between points scale by the same s
    ratio = (out[1:] - out[0]) / (pts[1:] - pts[0])
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-4) and 0.8 <= ratio.flat[0] <= 1.25
    shift = out[0] - ratio.flat[0] * pts[0]
    assert np.all(np.abs(shift) <= 0.1) and len(set(np.round(shift, 6))) == 3


def test_missing_files_are_named(part_root, tmp_path):
    root = str(tmp_path / 'part')
    create_shapenetpart_demo(root, categories=('Bag', ),
                             per_split=dict(train=2, val=0, test=1), seed=1)
    victim = osp.join(root, '02773838', 'trainbag001.txt')
    os.remove(victim)
    with pytest.raises(FileNotFoundError, match=r'1 shape file\(s\) of the .train. split are '
                                                r'missing.*trainbag001\.txt'):
        build(root, 'train')
    assert len(build(root, 'test')) == 1
    os.remove(osp.join(root, 'train_test_split', 'shuffled_test_file_list.json'))
    with pytest.raises(FileNotFoundError, match='split file .*shuffled_test_file_list.json'):
        build(root, 'test')
    os.remove(osp.join(root, 'synsetoffset2category.txt'))
    with pytest.raises(FileNotFoundError, match='category file .*synsetoffset2category.txt'):
        build(root, 'test')
    with pytest.raises(ValueError, match='split must be one of'):
        build(root, 'all')


def test_malformed_inputs_are_errors(part_root, tmp_path):
    root = str(tmp_path / 'part')
    create_shapenetpart_demo(root, categories=('Cap', ),
                             per_split=dict(train=1, val=0, test=0), seed=2)
    cat_file = osp.join(root, 'synsetoffset2category.txt')
    lines = open(cat_file).read().splitlines()
    with open(cat_file, 'w') as f:
        f.write('\n'.join(lines[1:] + lines[:1]) + '\n')
    with pytest.raises(ValueError, match='in this order'):
        build(root, 'train')
    with open(cat_file, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    split = osp.join(root, 'train_test_split', 'shuffled_train_file_list.json')
    with open(split, 'w') as f:
        json.dump(['02954340/x'], f)
    with pytest.raises(ValueError, match="entry '02954340/x' is not of the form"):
        build(root, 'train')

    load = TRANSFORMS.build(dict(type='LoadShapeNetPartPoints'))
    path = str(tmp_path / 'shape.txt')
    np.savetxt(path, np.array([[0, 0, 0, 0, 0, 1, 6], [1, 0, 0, 0, 0, 1, 9]]))
    with pytest.raises(ValueError, match=r'part labels \[9\] are not parts of Cap'):
        load(dict(pc_path=path, parts=(6, 7), category_name='Cap'))
    np.savetxt(path, np.zeros((3, 4)))
    with pytest.raises(ValueError, match='expected rows of 7 values'):
        load(dict(pc_path=path))
