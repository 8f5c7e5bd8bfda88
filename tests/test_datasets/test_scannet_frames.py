"""ScanNet RGB-D frame pairs: the .sens reader / writer, back-projection and colouring, the
converter (every k-th frame, corrupt frames, .sens vs posed images, splits), the dataset and
its transforms."""
import os
import os.path as osp
import struct
import zlib

import cv2
import mmengine
import numpy as np
import pytest

from pt3kd_mm.datasets.converters.scannet_frames import (
    CorruptFrameWarning, FrameError, PosedImagesReader, SensReader, SensWriter,
    backproject_depth, colour_points, convert_scan, convert_scannet_frames,
    depth_to_image_matrix, encode_jpeg, frame_to_points, sample_frame_points, split_scenes)
from pt3kd_mm.datasets.transforms.frame_pairs import (CentrePoints, ProjectPointsToImage,
                                                      ResizeCropFrameImage)
from pt3kd_mm.testing.demo_rgbd import DEPTH_EXTRINSIC, create_rgbd_demo, surface_colour


def _rot_y(deg):
    a = np.deg2rad(deg)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
    return m


K_COLOR = np.array([[70.0, 0, 31.2, 0], [0, 66.0, 23.9, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
K_DEPTH = np.array([[35.0, 0, 15.4, 0], [0, 34.0, 11.6, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
E_COLOR = np.array([[1, 0, 0, -0.01], [0, 1, 0, 0.02], [0, 0, 1, 0], [0, 0, 0, 1]], float)
E_DEPTH = _rot_y(4.0) @ np.array([[1, 0, 0, 0.03], [0, 1, 0, 0], [0, 0, 1, 0.01],
                                  [0, 0, 0, 1]], float)


def _smooth_color(i, w=64, h=48):
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    return np.stack([(u * 3 + 10 * i) % 256, (v * 4) % 256, np.full(u.shape, 40 * i % 256)],
                    -1).astype(np.uint8)


def _depth(i, w=32, h=24):
    rng = np.random.default_rng(i)
    d = rng.integers(800, 4000, (h, w)).astype(np.uint16)
    d[rng.random((h, w)) < 0.1] = 0
    return d


def _pose(i):
    p = _rot_y(7.0 * i)
    p[:3, 3] = [0.1 * i, -0.2, 1.5 + 0.01 * i]
    return p


def _write_sens(path, num_frames=3, bad=None):
    """A hand-made .sens; ``bad``: {frame: (colour bytes or None, depth bytes or None)}."""
    bad = bad or {}
    with SensWriter(path, K_COLOR, K_DEPTH, (64, 48), (32, 24), extrinsic_color=E_COLOR,
                    extrinsic_depth=E_DEPTH, depth_shift=1000.0, sensor_name='TestSensor',
                    jpeg_quality=95) as w:
        for i in range(num_frames):
            color, depth = bad.get(i, (None, None))
            w.add_frame(_smooth_color(i) if color is None else color,
                        _depth(i) if depth is None else depth, _pose(i),
                        timestamp_color=1000 * i + 7, timestamp_depth=1000 * i + 9)
    return path


def test_sens_header_bytes_follow_scannet_layout(tmp_path):
    """The writer's header byte for byte as ScanNet's SensorData.py reads it."""
    path = _write_sens(str(tmp_path / 'a.sens'), num_frames=2)
    expected = struct.pack('<I', 4) + struct.pack('<Q', 10) + b'TestSensor'
    for m in (K_COLOR, E_COLOR, K_DEPTH, E_DEPTH):
        expected += struct.pack('<16f', *m.astype(np.float32).ravel())
    expected += struct.pack('<ii', 2, 1) + struct.pack('<IIII', 64, 48, 32, 24)
    expected += struct.pack('<f', 1000.0) + struct.pack('<Q', 2)
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:len(expected)] == expected
    # first frame: pose, timestamps, sizes, then the colour and depth bytes
    pos = len(expected)
    pose = struct.unpack('<16f', data[pos:pos + 64])
    np.testing.assert_allclose(np.reshape(pose, (4, 4)), _pose(0), atol=1e-6)
    ts_c, ts_d, n_c, n_d = struct.unpack('<4Q', data[pos + 64:pos + 96])
    assert (ts_c, ts_d) == (7, 9)
    depth_bytes = data[pos + 96 + n_c:pos + 96 + n_c + n_d]
    np.testing.assert_array_equal(
        np.frombuffer(zlib.decompress(depth_bytes), '<u2').reshape(24, 32), _depth(0))


def test_sens_round_trip(tmp_path):
    path = _write_sens(str(tmp_path / 'scene.sens'), num_frames=4)
    with SensReader(path) as r:
        h = r.header
        assert (h.version, h.sensor_name) == (4, 'TestSensor')
        for got, want in ((h.intrinsic_color, K_COLOR), (h.extrinsic_color, E_COLOR),
                          (h.intrinsic_depth, K_DEPTH), (h.extrinsic_depth, E_DEPTH)):
            assert got.dtype == np.float32 and got.shape == (4, 4)
            np.testing.assert_allclose(got, want, atol=1e-6)
        assert (h.color_compression_type, h.depth_compression_type) == ('jpeg', 'zlib_ushort')
        assert (h.color_width, h.color_height, h.depth_width, h.depth_height) == (64, 48, 32, 24)
        assert h.depth_shift == 1000.0 and h.num_frames == 4 == len(r)
        assert r.truncated_at is None
        for i in (2, 0, 3, 1):  # random access
            frame = r[i]
            assert frame.index == i
            np.testing.assert_allclose(frame.camera_to_world, _pose(i), atol=1e-6)
            assert (frame.timestamp_color, frame.timestamp_depth) == (1000 * i + 7,
                                                                      1000 * i + 9)
            data, color, depth = r.read_rgbd(i)
            assert data == frame.color_bytes and data[:2] == b'\xff\xd8'  # JPEG as stored
            assert color.shape == (48, 64, 3) and color.dtype == np.uint8
            assert np.abs(color.astype(int) - _smooth_color(i)).mean() < 3  # JPEG tolerance
            assert depth.dtype == np.uint16
            np.testing.assert_array_equal(depth, _depth(i))
        np.testing.assert_allclose(r.poses[3], _pose(3), atol=1e-6)
        assert [f.index for f in r] == [0, 1, 2, 3]


def test_sens_truncated_and_bad_files(tmp_path):
    path = _write_sens(str(tmp_path / 'cut.sens'), num_frames=3)
    size = osp.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size - 500)  # inside the last frame
    with SensReader(path) as r:
        assert len(r) == 3 and r.truncated_at == 2
        r.read_rgbd(1)
        with pytest.raises(FrameError, match=r'cut\.sens: frame 2: .*truncated'):
            r.read_rgbd(2)
    with open(path, 'r+b') as f:
        f.truncate(100)  # inside the header
    with pytest.raises(ValueError, match=r'cut\.sens: file ends inside the header'):
        SensReader(path)
    with open(path, 'wb') as f:
        f.write(struct.pack('<I', 3) + b'\0' * 300)
    with pytest.raises(ValueError, match=r'cut\.sens: \.sens version 3'):
        SensReader(path)
    with pytest.raises(FileNotFoundError, match='nope.sens'):
        SensReader(str(tmp_path / 'nope.sens'))


def test_backprojection_and_colour_by_hand():
    depth = np.zeros((24, 32), np.uint16)
    depth[1, 3] = 2500
    depth[20, 30] = 1200
    depth[5, 0] = 9000  # beyond max_depth below
    xyz, pix = backproject_depth(depth, K_DEPTH, 1000.0)
    assert pix.tolist() == [[3, 1], [0, 5], [30, 20]]  # row-major, zeros dropped
    # pixel (u=3, v=1): z = 2.5, x = (3 - 15.4) z / 35, y = (1 - 11.6) z / 34
    np.testing.assert_allclose(xyz[0], [(3 - 15.4) * 2.5 / 35, (1 - 11.6) * 2.5 / 34, 2.5],
                               rtol=1e-6)
    np.testing.assert_allclose(xyz[2], [(30 - 15.4) * 1.2 / 35, (20 - 11.6) * 1.2 / 34, 1.2],
                               rtol=1e-6)
    xyz_far, _ = backproject_depth(depth, K_DEPTH, 1000.0, max_depth=5.0)
    assert len(xyz_far) == 2

    depth2img = depth_to_image_matrix(K_COLOR, E_COLOR, E_DEPTH)
    # by hand: depth camera -> rig (E_depth) -> colour camera (inverse of E_color) -> pixels
    color = np.zeros((48, 64, 3), np.uint8)
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    color[..., 0], color[..., 1], color[..., 2] = u * 3, v * 5, 7
    rgb, inside = colour_points(xyz, color, depth2img)
    for k in range(3):
        p_rig = E_DEPTH @ np.append(xyz[k], 1.0)
        p_col = np.array([p_rig[0] + 0.01, p_rig[1] - 0.02, p_rig[2]])  # inv(E_color)
        px = K_COLOR[0, 0] * p_col[0] / p_col[2] + K_COLOR[0, 2]
        py = K_COLOR[1, 1] * p_col[1] / p_col[2] + K_COLOR[1, 2]
        col, row = int(np.floor(px + 0.5)), int(np.floor(py + 0.5))
        want_inside = 0 <= col < 64 and 0 <= row < 48
        assert inside[k] == want_inside, (k, px, py)
        if want_inside:
            assert rgb[k].tolist() == [col * 3, row * 5, 7]
    assert inside.tolist() == [True, True, False]  # (30, 20) maps to x = 68.5 > 63.5
    points = frame_to_points(depth, color, K_DEPTH, depth2img)
    assert points.shape == (2, 6) and points.dtype == np.float32
    np.testing.assert_allclose(points[:, :3], xyz[[0, 1]])
    np.testing.assert_array_equal(points[:, 3:], rgb[[0, 1]])


def test_convert_scan_every_kth_frame_and_corrupt_frames(tmp_path):
    bad_depth = zlib.compress(np.zeros((10, 10), '<u2').tobytes())
    path = _write_sens(str(tmp_path / 'scene0007_00.sens'), num_frames=12, bad={
        3: (b'\xff\xd8 not a jpeg', None), 6: (None, b'not zlib data'), 9: (None, bad_depth)})
    out = str(tmp_path / 'out')
    with pytest.warns(CorruptFrameWarning) as record:
        result = convert_scan(path, 'scene0007_00', out, frame_skip=3, points_per_frame=300,
                              min_points=50, seed=1)
    assert [i['frame_id'] for i in result.infos] == [0]
    assert [(osp.basename(f), i) for f, i, _ in result.skipped] == [
        ('scene0007_00.sens', 3), ('scene0007_00.sens', 6), ('scene0007_00.sens', 9)]
    reasons = [r for _, _, r in result.skipped]
    assert 'JPEG' in reasons[0] and 'zlib' in reasons[1] and '200 bytes' in reasons[2]
    messages = [str(w.message) for w in record]
    assert any('scene0007_00.sens: frame 6: depth is not valid zlib' in m for m in messages)
    info = result.infos[0]
    assert sorted(info) == sorted(['scene_id', 'frame_id', 'pc_path', 'img_path', 'num_points',
                                   'img_shape', 'depth2img', 'cam2world'])
    assert info['pc_path'] == 'frames/scene0007_00/scene0007_00_000000.npy'
    assert info['img_shape'] == (48, 64) and info['num_points'] == 300
    np.testing.assert_allclose(info['depth2img'],
                               K_COLOR @ np.linalg.inv(E_COLOR) @ E_DEPTH, rtol=1e-5)
    assert info['depth2img'].dtype == np.float32 and info['cam2world'].dtype == np.float32
    points = np.load(osp.join(out, info['pc_path']))
    assert points.shape == (300, 6) and points.dtype == np.float32
    with SensReader(path) as r:
        data, color, depth = r.read_rgbd(0)
    with open(osp.join(out, info['img_path']), 'rb') as f:
        assert f.read() == data  # the JPEG bytes copied
    full = frame_to_points(depth, color, K_DEPTH, info['depth2img'])
    assert len(full) > 300
    # a subset of the full frame, the same on every run (seeded)
    assert {tuple(p) for p in points} <= {tuple(p) for p in full}
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(sample_frame_points(depth, color, K_DEPTH, info['depth2img'],
                                                      10 ** 6, rng), full)
    # the first chunk of candidates falls short: the rest is coloured too
    most = sample_frame_points(depth, color, K_DEPTH, info['depth2img'], len(full) - 5, rng)
    assert len(most) == len(full) - 5 and {tuple(p) for p in most} <= {tuple(p) for p in full}
    assert len(np.unique(most, axis=0)) == len(most)
    again = convert_scan(path, 'scene0007_00', str(tmp_path / 'out2'), frame_skip=3,
                         points_per_frame=300, min_points=50, seed=1, warn=False)
    np.testing.assert_array_equal(np.load(osp.join(tmp_path, 'out2', info['pc_path'])), points)
    # every 4th frame: 0, 4, 8 (none corrupt); min_points drops everything when too high
    four = convert_scan(path, 'scene0007_00', str(tmp_path / 'out3'), frame_skip=4,
                        points_per_frame=10 ** 6, min_points=50, warn=False)
    assert [i['frame_id'] for i in four.infos] == [0, 4, 8] and not four.skipped
    assert again.reused == 0
    empty = convert_scan(path, 'scene0007_00', str(tmp_path / 'out4'), frame_skip=4,
                         min_points=10 ** 6, warn=False)
    assert not empty.infos and 'fewer than min_points' in empty.skipped[0][2]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('rgbd_demo'))
    meta = create_rgbd_demo(root, num_scenes=2, frames_per_scene=8)
    return root, meta


@pytest.fixture(scope='module')
def converted(demo, tmp_path_factory):
    root, _ = demo
    out = str(tmp_path_factory.mktemp('pairs'))
    summary = convert_scannet_frames(out, sens_root=osp.join(root, 'scans'), split_dir=root,
                                     frame_skip=2, progress=False)
    return out, summary


def test_posed_images_give_the_same_pairs_as_sens(demo, converted, tmp_path):
    root, meta = demo
    out_sens, summary = converted
    assert summary.pairs == dict(train=4, val=4) and not summary.skipped
    out_posed = str(tmp_path / 'posed')
    convert_scannet_frames(out_posed, posed_images_root=osp.join(root, 'posed_images'),
                           split_dir=root, frame_skip=2, progress=False)
    reader = PosedImagesReader(osp.join(root, 'posed_images', 'scene0000_00'))
    assert reader.frame_ids == list(range(8))
    for split in ('train', 'val'):
        a = mmengine.load(osp.join(out_sens, f'scannet_frames_infos_{split}.pkl'))
        b = mmengine.load(osp.join(out_posed, f'scannet_frames_infos_{split}.pkl'))
        assert a['metainfo']['dataset'] == 'ScanNetFramePairs'
        assert [i['frame_id'] for i in a['data_list']] == [0, 2, 4, 6]
        assert len(a['data_list']) == len(b['data_list'])
        for x, y in zip(a['data_list'], b['data_list']):
            assert (x['scene_id'], x['frame_id'], x['pc_path'], x['img_shape']) == \
                (y['scene_id'], y['frame_id'], y['pc_path'], y['img_shape'])
            np.testing.assert_array_equal(np.load(osp.join(out_sens, x['pc_path'])),
                                          np.load(osp.join(out_posed, y['pc_path'])))
            np.testing.assert_allclose(x['depth2img'], y['depth2img'], rtol=1e-6)
            np.testing.assert_allclose(x['cam2world'], y['cam2world'], atol=2e-6)
            np.testing.assert_allclose(x['cam2world'],
                                       meta['poses'][x['scene_id']][x['frame_id']], atol=1e-6)


def test_demo_pairs_have_the_colours_the_renderer_gives(demo, converted):
    """The whole chain (depth intrinsics, depth extrinsic, colour intrinsics, nearest pixel)
    against the renderer: a point's stored colour is the colour the camera sees there."""
    root, meta = demo
    out, _ = converted
    infos = mmengine.load(osp.join(out, 'scannet_frames_infos_train.pkl'))['data_list']
    for info in infos[:2]:
        points = np.load(osp.join(out, info['pc_path']))
        world_from_depth = info['cam2world'].astype(np.float64) @ DEPTH_EXTRINSIC
        world = points[:, :3] @ world_from_depth[:3, :3].T + world_from_depth[:3, 3]
        want = surface_colour(meta['rooms'][info['scene_id']], info['cam2world'], world)
        err = np.abs(want.astype(int) - points[:, 3:].astype(int)).max(1)
        assert np.median(err) <= 8 and (err > 40).mean() < 0.005, np.percentile(err, [50, 99])
        # control: colouring that forgets the 2.5 cm depth extrinsic is measurably worse
        color = cv2.cvtColor(cv2.imread(osp.join(out, info['img_path'])), cv2.COLOR_BGR2RGB)
        rgb, inside = colour_points(points[:, :3], color, meta['intrinsic_color'])
        wrong = np.abs(want.astype(int) - rgb.astype(int)).max(1)[inside]
        assert err.mean() < 5 and wrong.mean() > err.mean() + 0.8, (err.mean(), wrong.mean())


def test_corrupt_posed_frame_and_missing_depth(demo, tmp_path):
    root, _ = demo
    import shutil
    scene = str(tmp_path / 'posed' / 'scene0000_00')
    shutil.copytree(osp.join(root, 'posed_images', 'scene0000_00'), scene)
    with open(osp.join(scene, '00002.jpg'), 'wb') as f:
        f.write(b'garbage')
    os.remove(osp.join(scene, '00004.png'))
    with pytest.warns(CorruptFrameWarning) as record:
        result = convert_scan(scene, 'scene0000_00', str(tmp_path / 'out'), frame_skip=2)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and '00002.jpg: frame 2: colour image' in messages[0]
    assert [i['frame_id'] for i in result.infos] == [0, 6]
    skipped = [(osp.basename(p), i) for p, i, _ in result.skipped]
    assert skipped == [('00002.jpg', 2), ('00004.png', 4)]
    os.remove(osp.join(scene, 'intrinsic_depth.txt'))
    with pytest.raises(FileNotFoundError, match='intrinsic_depth.txt not found'):
        PosedImagesReader(scene)


def test_scene_level_splits(tmp_path):
    scenes = [f'scene{i:04d}_{j:02d}' for i in range(20) for j in range(2)] + ['scene0500_00']
    splits, notes = split_scenes(scenes, val_fraction=0.25)
    assert not set(splits['train']) & set(splits['val'])
    assert sorted(splits['train'] + splits['val']) == sorted(scenes)
    for s in splits['val']:  # rescans of one space stay together
        assert s[:9] + '_00' not in splits['train'] and s[:9] + '_01' not in splits['train']
    assert len({s[:9] for s in splits['val']}) == 5  # 0.25 of the 21 scan groups
    assert split_scenes(list(reversed(scenes)), val_fraction=0.25)[0] == splits
    assert split_scenes(['scene0000_00', 'scene0001_00'], val_fraction=0.2)[0]['val']

    (tmp_path / 'scannetv2_train.txt').write_text('scene0000_00\nscene0001_00\nscene0009_00\n')
    (tmp_path / 'scannetv2_val.txt').write_text('scene0002_00\n')
    splits, notes = split_scenes(['scene0000_00', 'scene0001_00', 'scene0002_00',
                                  'scene0003_00'], str(tmp_path))
    assert splits == dict(train=['scene0000_00', 'scene0001_00'], val=['scene0002_00'])
    assert any('neither split list' in n for n in notes)
    (tmp_path / 'scannetv2_val.txt').write_text('scene0002_00\nscene0001_00\n')
    with pytest.raises(ValueError, match='both'):
        split_scenes(['scene0000_00'], str(tmp_path))
    with pytest.raises(FileNotFoundError, match='scannetv2_train.txt'):
        split_scenes(['scene0000_00'], str(tmp_path / 'missing'))


def test_converter_keeps_options_and_reuses_pairs(demo, converted):
    root, _ = demo
    out, _ = converted
    again = convert_scannet_frames(out, sens_root=osp.join(root, 'scans'), split_dir=root,
                                   frame_skip=2, progress=False)
    assert again.converted == 0 and again.reused == 8 and again.pairs == dict(train=4, val=4)
    with pytest.raises(ValueError, match='use another output folder'):
        convert_scannet_frames(out, sens_root=osp.join(root, 'scans'), split_dir=root,
                               frame_skip=3, progress=False)


# ------------------------------------------------------------------------------------------
# dataset and transforms
# ------------------------------------------------------------------------------------------
META_KEYS = ('img_path', 'scene_id', 'frame_id', 'points_uv', 'points_in_image', 'depth2img',
             'img_shape')


def _pipeline(project_only=False):
    steps = [dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
             dict(type='PointSubsample', num_points=4096),
             dict(type='LoadFrameImage'),
             dict(type='ResizeCropFrameImage', size=224),
             dict(type='ProjectPointsToImage')]
    if project_only:
        return steps
    return steps + [dict(type='CentrePoints'), dict(type='RandomScaleTranslate'),
                    dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=META_KEYS)]


def test_dataset_yields_points_image_and_uv(converted):
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import DATASETS
    init_default_scope('mmdet3d')
    out, _ = converted
    ds = DATASETS.build(dict(type='ScanNetFramePairDataset', data_root=out,
                             ann_file='scannet_frames_infos_val.pkl', pipeline=_pipeline()))
    assert len(ds) == 4 and ds.metainfo['dataset'] == 'ScanNetFramePairs'
    sample = ds[1]
    points, img = sample['inputs']['points'], sample['inputs']['img']
    assert tuple(points.shape) == (4096, 3) and tuple(img.shape) == (3, 224, 224)
    meta = sample['data_samples'].metainfo
    assert meta['scene_id'] == 'scene0001_00' and meta['frame_id'] == 2
    assert meta['img_path'].endswith('frames/scene0001_00/scene0001_00_000002.jpg')
    uv, in_img = meta['points_uv'], meta['points_in_image']
    assert uv.shape == (4096, 2) and uv.dtype == np.float32 and in_img.shape == (4096,)
    assert (uv >= 0).all() and (uv <= 1).all() and 0.5 < in_img.mean() < 1.0  # crop loses sides
    # centred (metric), then scaled by <= 1.5 and shifted by <= 0.2 per axis
    assert np.abs(np.asarray(points).mean(0)).max() < 0.21

    # points_uv of the (pre-augmentation) points against a hand projection through depth2img
    raw = DATASETS.build(dict(type='ScanNetFramePairDataset', data_root=out,
                              ann_file='scannet_frames_infos_val.pkl',
                              pipeline=_pipeline(project_only=True)))
    r = raw[1]
    info = raw.get_data_info(1)
    h, w = info['img_shape']
    short = min(h, w)
    s = 224 / short
    new_w, new_h = int(224 * w / short), int(224 * h / short)
    left, top = round((new_w - 224) / 2), round((new_h - 224) / 2)
    for k in (0, 100, 4000):
        x, y, z = r['points'][k].astype(np.float64)
        p = info['depth2img'].astype(np.float64) @ [x, y, z, 1]
        px0, py0 = p[0] / p[2], p[1] / p[2]  # original image pixels
        px = (px0 + 0.5) * (new_w / w) - 0.5 - left
        py = (py0 + 0.5) * (new_h / h) - 0.5 - top
        np.testing.assert_allclose(r['points_uv'][k], np.clip(
            [(px + 0.5) / 224, (py + 0.5) / 224], 0, 1), atol=1e-5)
        assert r['points_in_image'][k] == (0 <= px + 0.5 < 224 and 0 <= py + 0.5 < 224)
    assert abs(s - new_h / h) < 1e-9


def test_resize_crop_keeps_projection_on_the_same_content():
    k = np.array([[250.0, 0, 161.3, 0], [0, 240.0, 118.7, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    img = np.zeros((240, 320, 3), np.uint8)
    img[52:69, 232:249] = (255, 0, 0)  # a red square centred at pixel (240, 60)
    z = 2.0
    point = np.array([[(240 - 161.3) * z / 250, (60 - 118.7) * z / 240, z],
                      [(5 - 161.3) * z / 250, (120 - 118.7) * z / 240, z]], np.float32)
    results = dict(img=img, depth2img=k.astype(np.float32), points=point, img_shape=(240, 320))
    before = ProjectPointsToImage()(dict(results))
    np.testing.assert_allclose(before['points_uv'][0], [240.5 / 320, 60.5 / 240], atol=1e-5)
    out = ResizeCropFrameImage(224)(dict(results))
    assert out['img'].shape == (224, 224, 3) and out['img_shape'] == (224, 224)
    # 320x240 -> 298x224, crop left round(37) = 37
    assert out['crop_offset'] == (37, 0)
    out = ProjectPointsToImage()(out)
    u, v = out['points_uv'][0] * 224 - 0.5  # back to pixel coordinates
    red = (out['img'][..., 0] > 200) & (out['img'][..., 1] < 60)
    rows, cols = np.nonzero(red)
    assert abs(cols.mean() - u) < 0.6 and abs(rows.mean() - v) < 0.6
    assert red[int(round(v)), int(round(u))]
    np.testing.assert_allclose(u, (240 + 0.5) * 298 / 320 - 0.5 - 37, atol=1e-3)
    # the second point (x = 5 in the original) is in the cropped-away left margin
    assert out['points_in_image'].tolist() == [True, False]
    assert out['points_uv'][1, 0] == 0.0  # clipped


def test_centre_points_keeps_metric_scale():
    pts = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32) + [0, 0, 3]
    out = CentrePoints()(dict(points=pts.copy()))
    np.testing.assert_allclose(out['points'].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out['points_centre'], pts.mean(0), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out['points'][0] - out['points'][1]),
                               np.linalg.norm(pts[0] - pts[1]), rtol=1e-5)


def test_dataset_and_image_errors(converted, tmp_path):
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import DATASETS, TRANSFORMS
    init_default_scope('mmdet3d')
    out, _ = converted
    with pytest.raises(FileNotFoundError, match=r'missing\.pkl not found.*scannet_frames\.py'):
        DATASETS.build(dict(type='ScanNetFramePairDataset', data_root=out,
                            ann_file='missing.pkl'))
    content = mmengine.load(osp.join(out, 'scannet_frames_infos_val.pkl'))
    del content['data_list'][2]['depth2img']
    mmengine.dump(content, str(tmp_path / 'bad.pkl'))
    with pytest.raises(KeyError, match=r"bad\.pkl: pair 2 has no \['depth2img'\]"):
        DATASETS.build(dict(type='ScanNetFramePairDataset', data_root=out,
                            ann_file=str(tmp_path / 'bad.pkl')))
    load = TRANSFORMS.build(dict(type='LoadFrameImage'))
    with pytest.raises(FileNotFoundError, match='nothere.jpg'):
        load(dict(img_path=str(tmp_path / 'nothere.jpg')))
    path = str(tmp_path / 'small.jpg')
    with open(path, 'wb') as f:
        f.write(encode_jpeg(np.zeros((10, 12, 3), np.uint8)))
    with pytest.raises(ValueError, match=r'small\.jpg is 12x10 but its info says 320x240'):
        load(dict(img_path=path, img_shape=(240, 320)))
    rgb = load(dict(img_path=path, img_shape=(10, 12)))
    assert rgb['img'].shape == (10, 12, 3)
    with open(path, 'wb') as f:
        f.write(b'not an image')
    with pytest.raises(ValueError, match=r'small\.jpg cannot be decoded'):
        load(dict(img_path=path))
    with pytest.raises(KeyError, match='depth2img'):
        ResizeCropFrameImage()(dict(img=np.zeros((8, 8, 3), np.uint8)))


def test_load_frame_image_gives_rgb(tmp_path):
    from pt3kd_mm.datasets.transforms.frame_pairs import LoadFrameImage
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., 0] = 250  # red in RGB
    path = str(tmp_path / 'red.png')
    cv2.imwrite(path, img[..., ::-1])
    out = LoadFrameImage()(dict(img_path=path))
    assert out['img'][0, 0].tolist() == [250, 0, 0] and out['ori_shape'] == (16, 16)
