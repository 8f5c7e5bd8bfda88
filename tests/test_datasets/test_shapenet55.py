import os.path as osp

import numpy as np
import pytest

from mmdet3d.registry import DATASETS, TRANSFORMS

PIPELINE = [
    dict(type='LoadPointCloudNpy'),
    dict(type='PointSubsample', num_points=256),
    dict(type='NormalizeToUnitSphere'),
    dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('pc_path', 'category')),
]


def test_demo_layout_and_dataset(demo_root):
    assert osp.isfile(osp.join(demo_root, 'ShapeNet-55', 'train.txt'))
    ds = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                             ann_file='ShapeNet-55/train.txt', pipeline=PIPELINE))
    assert len(ds) == 18
    assert ds.metainfo['classes'] == ('sphere', 'cube', 'cylinder', 'cone', 'torus', 'table')
    info = ds.get_data_info(0)
    assert osp.isfile(info['img_path']) and info['category_name'] == 'sphere'
    raw = np.load(info['pc_path'])
    assert raw.shape == (512, 3) and raw.dtype == np.float32
    item = ds[0]
    pts = item['inputs']['points']
    assert pts.shape == (256, 3)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1).max(), 1.0, rtol=1e-5)
    assert item['data_samples'].category == 0
    test = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                               ann_file='ShapeNet-55/test.txt', taxonomy_file='', pipeline=[]))
    # without a taxonomy: synset ids, still the same ids in train and test
    assert test.metainfo['classes'][0] == '90000001' and len(test) == 6


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'split file .*ShapeNet-55/train.txt not found'):
        DATASETS.build(dict(type='ShapeNet55Dataset', data_root=str(tmp_path)))


def _load(path):
    return TRANSFORMS.build(dict(type='LoadPointCloudNpy'))(dict(pc_path=str(path)))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.npy does not exist'):
        _load(tmp_path / 'missing.npy')
    np.save(tmp_path / 'empty.npy', np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match='empty.npy is empty'):
        _load(tmp_path / 'empty.npy')
    (tmp_path / 'garbage.npy').write_bytes(b'not a numpy file')
    with pytest.raises(ValueError, match='garbage.npy is unreadable'):
        _load(tmp_path / 'garbage.npy')
    bad = np.random.rand(100, 3).astype(np.float32)
    bad[3, 1] = np.nan
    np.save(tmp_path / 'nan.npy', bad)
    with pytest.raises(ValueError, match='nan.npy has 1 points with NaN'):
        _load(tmp_path / 'nan.npy')
    np.save(tmp_path / 'flat.npy', np.zeros(30, np.float32))
    with pytest.raises(ValueError, match=r'flat.npy has shape \(30,\)'):
        _load(tmp_path / 'flat.npy')


def test_too_few_points_names_file(tmp_path):
    np.save(tmp_path / 'small.npy', np.random.rand(100, 3).astype(np.float32))
    results = _load(tmp_path / 'small.npy')
    with pytest.raises(ValueError, match='small.npy has 100 points, fewer than the 1024'):
        TRANSFORMS.build(dict(type='PointSubsample', num_points=1024))(results)


def test_subsample_methods():
    pts = np.random.rand(500, 3).astype(np.float32)
    for method in ('random', 'fps'):
        out = TRANSFORMS.build(dict(type='PointSubsample', num_points=64, method=method))(
            dict(points=pts))['points']
        assert out.shape == (64, 3)
        assert len({tuple(p) for p in out.tolist()}) == 64  # no repeats, all from the input
    fps = TRANSFORMS.build(dict(type='PointSubsample', num_points=2, method='fps'))(
        dict(points=pts))['points']
    np.testing.assert_array_equal(fps[0], pts[0])


def test_scale_translate_and_rotation():
    np.random.seed(0)
    pts = np.random.randn(200, 3).astype(np.float32)
    st = TRANSFORMS.build(dict(type='RandomScaleTranslate'))(dict(points=pts))['points']
    ratio = (st - st.mean(0)).std(0) / (pts - pts.mean(0)).std(0)
    assert ((ratio >= 2 / 3 - 1e-4) & (ratio <= 1.5 + 1e-4)).all()
    res = TRANSFORMS.build(dict(type='RandomRotateUpAxis', up_axis=1))(dict(points=pts))
    rot = res['points']
    np.testing.assert_allclose(rot[:, 1], pts[:, 1], atol=1e-6)  # up coordinate unchanged
    np.testing.assert_allclose(np.linalg.norm(rot, axis=1), np.linalg.norm(pts, axis=1),
                               rtol=1e-5)
    a = res['rotation_angle']
    np.testing.assert_allclose(rot[0, 0], np.cos(a) * pts[0, 0] - np.sin(a) * pts[0, 2],
                               rtol=1e-4, atol=1e-5)


def test_normalize_rejects_degenerate_cloud():
    with pytest.raises(ValueError, match='c.npy: all points coincide'):
        TRANSFORMS.build(dict(type='NormalizeToUnitSphere'))(
            dict(points=np.ones((10, 3), np.float32), pc_path='c.npy'))


def test_fps_in_forked_workers_after_parent_used_threads(tmp_path):
    """Regression: FPS in data-loader workers must not deadlock once the parent process has run
    the parallel kernels (and torch's OpenMP pool); run twice so the second run uses numba's
    on-disk cache."""
    import subprocess
    import sys
    script = '''
import numpy as np, torch
from torch.utils.data import DataLoader, Dataset
import pt3kd_mm
from mmdet3d.registry import TRANSFORMS
from pt3kd_mm.ops import farthest_point_sample, knn_query
x = torch.rand(4, 2048, 3)
farthest_point_sample(x, 64); knn_query(x, x[:, :64], 8); torch.rand(256, 256) @ torch.rand(256, 256)
sub = TRANSFORMS.build(dict(type='PointSubsample', num_points=128, method='fps'))
class D(Dataset):
    def __len__(self): return 8
    def __getitem__(self, i):
        return sub(dict(points=np.random.rand(2048, 3).astype(np.float32)))['points']
out = torch.cat(list(DataLoader(D(), batch_size=4, num_workers=2)))
assert out.shape == (8, 128, 3)
print('ok')
'''
    for _ in range(2):
        proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == 0 and 'ok' in proc.stdout, proc.stderr[-2000:]


def test_several_split_files_in_one_dataset(demo_root):
    from mmdet3d.registry import DATASETS
    train = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                                ann_file='ShapeNet-55/train.txt', pipeline=[]))
    test = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                               ann_file='ShapeNet-55/test.txt', pipeline=[]))
    both = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                               ann_file=['ShapeNet-55/train.txt', 'ShapeNet-55/test.txt'],
                               pipeline=[]))
    assert len(both) == len(train) + len(test) == 24
    assert [both[i]['pc_path'] for i in range(len(both))] == \
        [train[i]['pc_path'] for i in range(len(train))] + \
        [test[i]['pc_path'] for i in range(len(test))]
    assert both.metainfo['classes'] == train.metainfo['classes']
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                            ann_file=['ShapeNet-55/train.txt', 'ShapeNet-55/nope.txt']))
