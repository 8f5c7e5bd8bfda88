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
    assert ds.metainfo['names_file'] == osp.join(demo_root, 'shapenet55.json')
    test = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root,
                               ann_file='ShapeNet-55/test.txt', names_file=None, pipeline=[]))
    # names_file=None: synset ids, still the same ids in train and test
    assert test.metainfo['classes'][0] == '90000001' and len(test) == 6
    assert test.metainfo['names_file'] is None


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


def test_rotation_about_y_is_the_reference_pointcloud_rotate():
    """ReCon's PointcloudRotate: pc @ R, R = [[c, 0, s], [0, 1, 0], [-s, 0, c]], angle uniform
    in [0, 2 pi)."""
    np.random.seed(1)
    pts = np.random.randn(100, 3).astype(np.float32)
    rotate = TRANSFORMS.build(dict(type='RandomRotateUpAxis', up_axis=1,
                                   angle_range=(0., 2 * np.pi)))
    angles = []
    for _ in range(200):
        res = rotate(dict(points=pts.copy()))
        a = res['rotation_angle']
        c, s = np.cos(a), np.sin(a)
        ref = pts @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float32)
        np.testing.assert_allclose(res['points'], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(res['points'][:, 1], pts[:, 1])  # y untouched
        np.testing.assert_allclose(np.linalg.norm(res['points'], axis=1),
                                   np.linalg.norm(pts, axis=1), rtol=1e-5)
        angles.append(a)
    assert 0 <= min(angles) < 0.5 and 2 * np.pi - 0.5 < max(angles) < 2 * np.pi
    # a quarter turn by hand: x -> -z ... (x, y, z) @ R = (c x - s z, y, s x + c z)
    rotate.angle_range = (np.pi / 2, np.pi / 2)
    out = rotate(dict(points=np.array([[1., 2., 3.]], np.float32)))['points']
    np.testing.assert_allclose(out, [[-3., 2., 1.]], atol=1e-6)


def test_recon_data_configs_match_the_reference():
    """ReCon pre-trains on ShapeNet-55 train + test, rotation about y as the only point
    augmentation, class names from shapenet55.json."""
    from mmengine.config import Config
    from pt3kd_mm.testing import REPO
    for name in ('recon_pretrain', 'recon_clip_pretrain', 'recon_s_pretrain',
                 'recon_nce_pretrain', 'recon_pretrain_cached'):
        ds = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py')).train_dataloader.dataset
        assert ds.ann_file == ['ShapeNet-55/train.txt', 'ShapeNet-55/test.txt'], name
        assert ds.names_file[0] == 'shapenet55.json', name
        types = [t['type'] for t in ds.pipeline]
        assert 'RandomScaleTranslate' not in types, name
        rot = ds.pipeline[types.index('RandomRotateUpAxis')]
        assert rot['up_axis'] == 1 and rot['angle_range'] == pytest.approx((0, 2 * np.pi))
    # the demo keeps the test split for its zero-shot metric; Point-MAE / ACT need no names
    demo = Config.fromfile(osp.join(REPO, 'configs', 'recon_clip_pretrain_demo.py'))
    assert demo.train_dataloader.dataset.ann_file == 'ShapeNet-55/train.txt'
    point_mae = Config.fromfile(osp.join(REPO, 'configs', 'point_mae_pretrain.py'))
    assert point_mae.train_dataloader.dataset.names_file is None


def _names_layout(root, recon_json=None, taxonomy=None,
                  lines=('02691156-a.npy', '03001627-b.npy', '02691156-c.npy')):
    import json
    (root / 'ShapeNet-55').mkdir(parents=True, exist_ok=True)
    (root / 'ShapeNet-55' / 'train.txt').write_text('\n'.join(lines) + '\n')
    if recon_json is not None:
        (root / 'shapenet55.json').write_text(json.dumps(recon_json))
    if taxonomy is not None:
        (root / 'ShapeNet-55' / 'taxonomy.json').write_text(json.dumps(taxonomy))
    return str(root)


def _names_dataset(root, **kwargs):
    return DATASETS.build(dict(type='ShapeNet55Dataset', data_root=root, pipeline=[], **kwargs))


def test_class_names_from_recon_shapenet55_json(tmp_path):
    """ReCon's layout: rows with catalogue (synset as an int, leading 0 dropped) and describe;
    class ids in row order (ReCon's labels)."""
    root = _names_layout(tmp_path, recon_json=[
        dict(catalogue=4379243, describe='table', extra=1),
        dict(catalogue=3001627, describe='chair'),
        dict(catalogue=2691156, describe='airplane')])
    ds = _names_dataset(root)
    assert ds.metainfo['classes'] == ('table', 'chair', 'airplane')
    assert ds.metainfo['synsets'] == ('04379243', '03001627', '02691156')
    assert [(ds.get_data_info(i)['category'], ds.get_data_info(i)['category_name'])
            for i in range(3)] == [(2, 'airplane'), (1, 'chair'), (2, 'airplane')]
    # with a prompt transform the sample's prompt reads the name
    prompt = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=root, pipeline=[
        dict(type='RandomTextPrompt', template_index=7)]))
    assert prompt[1]['text'] == 'A 3D model of a chair.'


def test_class_names_from_taxonomy_json(tmp_path):
    root = _names_layout(tmp_path, taxonomy=[dict(synset='02691156', name='airplane'),
                                             dict(synset='03001627', name='chair')])
    ds = _names_dataset(root)
    assert ds.metainfo['classes'] == ('airplane', 'chair')
    assert ds.get_data_info(1)['category_name'] == 'chair'
    assert ds.metainfo['names_file'].endswith('ShapeNet-55/taxonomy.json')


def test_missing_class_names_are_errors(tmp_path):
    root = _names_layout(tmp_path / 'none')
    with pytest.raises(FileNotFoundError, match=r"no class-name file found: looked for "
                       r"\['.*/none/shapenet55.json', '.*/none/ShapeNet-55/taxonomy.json'\]"
                       r".*names_file=None"):
        _names_dataset(root)
    # a synset of the split that the file does not name
    root = _names_layout(tmp_path / 'partial',
                         recon_json=[dict(catalogue=2691156, describe='airplane')])
    with pytest.raises(ValueError, match=r"synset 03001627 of 03001627-b.npy has no class name "
                       r"in .*partial/shapenet55.json \(files looked for, in order: "
                       r"\['shapenet55.json', 'ShapeNet-55/taxonomy.json'\]\)"):
        _names_dataset(root)
    root = _names_layout(tmp_path / 'badrow', recon_json=[dict(catalogue=2691156)])
    with pytest.raises(ValueError,
                       match=r'shapenet55.json: row 0 .* has neither "catalogue" \+ "describe"'):
        _names_dataset(root)
    # names_file=None (synset ids) is refused when the pipeline builds prompts from names
    root = _names_layout(tmp_path / 'ids')
    assert _names_dataset(root, names_file=None).metainfo['classes'] == ('02691156', '03001627')
    with pytest.raises(ValueError, match=r'names_file=None.*RandomTextPrompt'):
        DATASETS.build(dict(type='ShapeNet55Dataset', data_root=root, names_file=None,
                            pipeline=[dict(type='RandomTextPrompt')]))


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


def test_odd_arrays_are_refused_naming_the_file(tmp_path):
    """bool / complex clouds were cast silently, a (3, N) array loaded as 3 points of N
    channels, float64 beyond the float32 range became inf ("NaN or infinite")."""
    pts = np.random.rand(64, 3)
    np.save(tmp_path / 'mask.npy', pts > 0.5)
    with pytest.raises(ValueError, match=r'mask.npy holds bool values; expected real numbers'):
        _load(tmp_path / 'mask.npy')
    np.save(tmp_path / 'cplx.npy', pts + 1j * pts)
    with pytest.raises(ValueError, match=r'cplx.npy holds complex128 values'):
        _load(tmp_path / 'cplx.npy')
    np.save(tmp_path / 'trans.npy', pts.T.astype(np.float32))
    with pytest.raises(ValueError, match=r'trans.npy has shape \(3, 64\), which looks '
                       r'transposed: \(3, N\); expected \(N, 3\)'):
        _load(tmp_path / 'trans.npy')
    huge = pts.copy()
    huge[5, 2] = -1e300
    np.save(tmp_path / 'huge.npy', huge)
    with pytest.raises(ValueError, match=r'huge.npy has values beyond the float32 range '
                       r'\(max \|x\| = 1e\+300\)'):
        _load(tmp_path / 'huge.npy')
    # still accepted: float64 within range, integers, a tiny (N, 3) cloud, a true inf
    np.save(tmp_path / 'f64.npy', pts)
    out = _load(tmp_path / 'f64.npy')['points']
    assert out.dtype == np.float32 and out.shape == (64, 3)
    np.save(tmp_path / 'int.npy', (pts * 100).astype(np.int16))
    assert _load(tmp_path / 'int.npy')['points'].dtype == np.float32
    np.save(tmp_path / 'three.npy', pts[:3])
    assert _load(tmp_path / 'three.npy')['points'].shape == (3, 3)
    huge[5, 2] = np.inf
    np.save(tmp_path / 'inf.npy', huge)
    with pytest.raises(ValueError, match='inf.npy has 1 points with NaN or infinite'):
        _load(tmp_path / 'inf.npy')


def test_empty_split_file_is_named(tmp_path):
    """An empty split file gave mmengine's "need at least one array to concatenate"."""
    root = _names_layout(tmp_path, lines=())
    (tmp_path / 'ShapeNet-55' / 'train.txt').write_text('\n')
    with pytest.raises(ValueError, match=r'split file .*ShapeNet-55/train.txt lists no clouds '
                       r'\(it is empty\)'):
        _names_dataset(root, names_file=None)
    # one empty file among several is named as well
    (tmp_path / 'ShapeNet-55' / 'train.txt').write_text('02691156-a.npy\n')
    (tmp_path / 'ShapeNet-55' / 'test.txt').write_text('')
    with pytest.raises(ValueError, match=r'ShapeNet-55/test.txt lists no clouds'):
        _names_dataset(root, names_file=None,
                       ann_file=['ShapeNet-55/train.txt', 'ShapeNet-55/test.txt'])
    assert len(_names_dataset(root, names_file=None)) == 1  # an empty sibling test.txt is fine


def test_texts_file_gives_every_cloud_its_text(tmp_path):
    import json
    root = _names_layout(tmp_path / 'ok', taxonomy=[dict(synset='02691156', name='airplane'),
                                                    dict(synset='03001627', name='chair')])
    texts = {'02691156-a': 'Jet plane', '03001627-b': 'Caf\xe9 chair', '02691156-c': 'Glider',
             '09999999-unused': 'not in the split'}
    (tmp_path / 'ok' / 'texts.json').write_text(json.dumps(texts))
    ds = _names_dataset(root, texts_file='texts.json')
    assert [ds.get_data_info(i)['model_text'] for i in range(3)] == [
        'Jet plane', 'Caf\xe9 chair', 'Glider']
    assert ds.get_data_info(1)['category_name'] == 'chair'  # class names are untouched
    assert 'model_text' not in _names_dataset(root).get_data_info(0)  # only when asked
    # the per-model text feeds the prompt transform
    prompt = DATASETS.build(dict(
        type='ShapeNet55Dataset', data_root=root, texts_file='texts.json', pipeline=[
            dict(type='RandomTextPrompt', name_key='model_text', templates=['{}'])]))
    assert prompt[2]['text'] == 'Glider'
    # a cloud of the split without a text: named, with the file
    del texts['03001627-b']
    (tmp_path / 'ok' / 'partial.json').write_text(json.dumps(texts))
    with pytest.raises(ValueError, match=r"cloud 03001627-b.npy \(key '03001627-b'\) has no "
                       r"text in the texts file .*ok/partial.json"):
        _names_dataset(root, texts_file='partial.json')
    with pytest.raises(FileNotFoundError, match=r'texts file .*ok/missing.json not found'):
        _names_dataset(root, texts_file='missing.json')
    (tmp_path / 'ok' / 'list.json').write_text(json.dumps(['a']))
    with pytest.raises(ValueError, match=r'texts file .*list.json must hold a JSON object'):
        _names_dataset(root, texts_file='list.json')
