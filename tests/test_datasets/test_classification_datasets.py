"""Classification readers on tiny files in the real layouts: ModelNet40 (.txt and the
reference's .dat pickle), ScanObjectNN (h5), few-shot folds (pkl); the sampling and packing
transforms."""
import os
import os.path as osp
import pickle
import shutil

import h5py
import numpy as np
import pytest
import torch

from mmdet3d.registry import DATASETS, TRANSFORMS
from pt3kd_mm.datasets.scanobjectnn import CLASSES as SCAN_CLASSES
from pt3kd_mm.ops import farthest_point_sample


def write_dat(root, split, num_points=512, labels=None, num_categories=40):
    """The reference's modelnet{N}_{split}_{n}pts_fps.dat from the demo .txt files."""
    ds = DATASETS.build(dict(type='ModelNet40PointDataset', data_root=root, split=split))
    clouds, cats = [], []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        cloud = np.loadtxt(info['pc_path'], delimiter=',').astype(np.float32)[:num_points]
        clouds.append(cloud)
        cats.append(np.array([info['category'] if labels is None else labels[i]], np.int32))
    path = osp.join(root, f'modelnet{num_categories}_{split}_{num_points}pts_fps.dat')
    with open(path, 'wb') as f:
        pickle.dump([clouds, cats], f)
    return clouds, cats


@pytest.fixture
def modelnet_copy(modelnet_root, tmp_path):
    """A private copy of the session's demo ModelNet40 (the tests add .dat files)."""
    return shutil.copytree(modelnet_root, str(tmp_path / 'modelnet40_normal_resampled'))


def test_modelnet40_txt_and_dat_agree(modelnet_copy):
    modelnet_root = modelnet_copy
    txt = DATASETS.build(dict(type='ModelNet40PointDataset', data_root=modelnet_root,
                              split='test'))
    clouds, _ = write_dat(modelnet_root, 'test')
    dat = DATASETS.build(dict(type='ModelNet40PointDataset', data_root=modelnet_root,
                              split='test', processed_file='modelnet{num_categories}_{split}_'
                              '512pts_fps.dat'))
    assert len(txt) == len(dat) == 12  # 6 demo classes x 2 test shapes
    assert [txt[i]['category'] for i in range(12)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    for i in (0, 7):
        item = dat.get_data_info(i)
        assert item['category'] == txt.get_data_info(i)['category']
        assert item['shape_id'] == txt.get_data_info(i)['shape_id']
        np.testing.assert_array_equal(item['points'], clouds[i][:, :3])  # xyz kept
    assert dat.metainfo['classes'] == txt.metainfo['classes']


def test_modelnet40_dat_errors(modelnet_copy):
    modelnet_root = modelnet_copy
    cfg = dict(type='ModelNet40PointDataset', data_root=modelnet_root, split='train',
               processed_file='modelnet40_{split}_999pts_fps.dat')
    with pytest.raises(FileNotFoundError, match=r'modelnet40_train_999pts_fps\.dat not found.*'
                       r'processed_file=None'):
        DATASETS.build(cfg)
    labels = [0] * 18  # 6 classes x 3 train shapes, all labelled 0
    write_dat(modelnet_root, 'train', labels=labels)
    with pytest.raises(ValueError, match=r'entry 3 has label 0 but .* says cube_0001 \(class 1\)'):
        DATASETS.build(dict(cfg, processed_file='modelnet40_train_512pts_fps.dat'))


def write_h5(path, points, labels):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with h5py.File(path, 'w') as f:
        f.create_dataset('data', data=points)
        f.create_dataset('label', data=labels)


@pytest.mark.parametrize('variant,folder,stem', [
    ('OBJ_BG', 'main_split', 'objectdataset'),
    ('OBJ_ONLY', 'main_split_nobg', 'objectdataset'),
    ('PB_T50_RS', 'main_split', 'objectdataset_augmentedrot_scale75'),
])
def test_scanobjectnn_variants(tmp_path, variant, folder, stem):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(5, 64, 3)).astype(np.float32)
    test = rng.normal(size=(3, 64, 3)).astype(np.float32)
    write_h5(str(tmp_path / folder / f'training_{stem}.h5'), train, np.array([0, 14, 3, 3, 7]))
    write_h5(str(tmp_path / folder / f'test_{stem}.h5'), test, np.array([[2], [5], [9]]))
    ds = DATASETS.build(dict(type='ScanObjectNNDataset', data_root=str(tmp_path),
                             split='train', variant=variant))
    assert len(ds) == 5 and ds.metainfo['classes'] == SCAN_CLASSES
    assert [ds[i]['category'] for i in range(5)] == [0, 14, 3, 3, 7]
    np.testing.assert_array_equal(ds[1]['points'], train[1])
    assert ds[1]['category_name'] == 'toilet'
    test_ds = DATASETS.build(dict(type='ScanObjectNNDataset', data_root=str(tmp_path),
                                  split='test', variant=variant, test_mode=True))
    assert [test_ds[i]['category'] for i in range(3)] == [2, 5, 9]  # (M, 1) labels too


def test_scanobjectnn_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'main_split_nobg/training_objectdataset\.h5'):
        DATASETS.build(dict(type='ScanObjectNNDataset', data_root=str(tmp_path),
                            variant='OBJ_ONLY'))
    with pytest.raises(ValueError, match='variant must be one of'):
        DATASETS.build(dict(type='ScanObjectNNDataset', data_root=str(tmp_path),
                            variant='hardest'))
    write_h5(str(tmp_path / 'main_split' / 'training_objectdataset.h5'),
             np.zeros((2, 8, 3), np.float32), np.array([1, 15]))
    with pytest.raises(ValueError, match=r'label 15 of sample 1 is outside 0\.\.14'):
        DATASETS.build(dict(type='ScanObjectNNDataset', data_root=str(tmp_path),
                            variant='OBJ_BG'))


def test_fewshot_fold_reader(tmp_path):
    rng = np.random.default_rng(0)
    fold = dict(train=[(rng.normal(size=(32, 6)).astype(np.float32), i % 5, 10 + i % 5)
                       for i in range(10)],
                test=[(rng.normal(size=(32, 6)).astype(np.float32), i % 5, np.array([10 + i % 5]))
                      for i in range(5)])
    os.makedirs(tmp_path / '5way_2shot')
    with open(tmp_path / '5way_2shot' / '3.pkl', 'wb') as f:
        pickle.dump(fold, f)
    ds = DATASETS.build(dict(type='ModelNet40FewShotDataset', data_root=str(tmp_path), way=5,
                             shot=2, fold=3, split='train'))
    assert len(ds) == 10 and ds.metainfo['classes'] == ('0', '1', '2', '3', '4')
    item = ds[6]
    assert item['category'] == 1 and item['modelnet_category'] == 11
    np.testing.assert_array_equal(item['points'], fold['train'][6][0][:, :3])
    test = DATASETS.build(dict(type='ModelNet40FewShotDataset', data_root=str(tmp_path), way=5,
                               shot=2, fold=3, split='test'))
    assert [test[i]['modelnet_category'] for i in range(5)] == [10, 11, 12, 13, 14]
    with pytest.raises(FileNotFoundError, match=r'10way_2shot/3\.pkl not found.*fewshot\.py'):
        DATASETS.build(dict(type='ModelNet40FewShotDataset', data_root=str(tmp_path), way=10,
                            shot=2, fold=3))


def test_fps_random_subsample_draws_from_the_fps_candidates():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 3)).astype(np.float32)
    np.random.seed(0)
    out = TRANSFORMS.build(dict(type='FPSRandomSubsample', num_points=50, num_candidates=80,
                                shuffle=False))(dict(points=points))['points']
    fps = points[farthest_point_sample(torch.from_numpy(points[None]), 80)[0].numpy()]
    rows = {tuple(r) for r in fps}
    assert out.shape == (50, 3) and all(tuple(r) in rows for r in out)
    assert len({tuple(r) for r in out}) == 50  # without replacement
    # shuffled: another FPS start, still FPS-spread points of the cloud
    out2 = TRANSFORMS.build(dict(type='FPSRandomSubsample', num_points=50, num_candidates=80))(
        dict(points=points))['points']
    assert {tuple(r) for r in out2} <= {tuple(r) for r in points}
    # fewer points than candidates: all of them are candidates (a shuffle when equal)
    small = points[:50]
    out3 = TRANSFORMS.build(dict(type='FPSRandomSubsample', num_points=50,
                                 num_candidates=60))(dict(points=small))['points']
    assert sorted(map(tuple, out3)) == sorted(map(tuple, small))
    with pytest.raises(ValueError, match='has 50 points, fewer than the 64'):
        TRANSFORMS.build(dict(type='FPSRandomSubsample', num_points=64, num_candidates=80))(
            dict(points=small, pc_path='x.txt'))


def test_pack_point_cls_inputs():
    pack = TRANSFORMS.build(dict(type='PackPointClsInputs'))
    points = np.arange(12, dtype=np.float64).reshape(4, 3)
    out = pack(dict(points=points, category=7, sample_idx=3, pc_path='a.txt'))
    assert out['inputs']['points'].dtype == torch.float32
    torch.testing.assert_close(out['inputs']['points'], torch.from_numpy(points).float())
    assert int(out['data_samples'].gt_label) == 7
    assert out['data_samples'].sample_idx == 3 and out['data_samples'].pc_path == 'a.txt'
    with pytest.raises(KeyError, match="no label 'category'"):
        pack(dict(points=points))


def test_empty_splits_are_named(tmp_path):
    """Empty split files / h5 / fold lists gave mmengine's "need at least one array to
    concatenate" at dataset build."""
    root = tmp_path / 'modelnet'
    root.mkdir()
    (root / 'modelnet40_shape_names.txt').write_text('chair\n')
    (root / 'modelnet40_train.txt').write_text('\n')
    with pytest.raises(ValueError, match=r'split file .*modelnet40_train.txt is empty: it must '
                       r'list one shape id per line'):
        DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(root)))
    (root / 'modelnet40_shape_names.txt').write_text('')
    with pytest.raises(ValueError, match=r'shape names file .*modelnet40_shape_names.txt is '
                       r'empty: it must list one class name per line'):
        DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(root)))
    write_h5(str(tmp_path / 'main_split' / 'training_objectdataset.h5'),
             np.zeros((0, 8, 3), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r'training_objectdataset\.h5 holds no samples'):
        DATASETS.build(dict(type='ScanObjectNNDataset', data_root=str(tmp_path),
                            variant='OBJ_BG'))
    os.makedirs(tmp_path / '5way_2shot')
    with open(tmp_path / '5way_2shot' / '0.pkl', 'wb') as f:
        pickle.dump(dict(train=[], test=[]), f)
    with pytest.raises(ValueError, match=r"5way_2shot/0\.pkl: the 'train' list of the fold is "
                       r'empty'):
        DATASETS.build(dict(type='ModelNet40FewShotDataset', data_root=str(tmp_path), way=5,
                            shot=2, fold=0))
