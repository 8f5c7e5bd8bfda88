"""The teacher feature cache: write / memory-mapped read, fingerprint checks, the transform."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from pt3kd_mm.utils.teacher_cache import (TeacherFeatureCache, teacher_fingerprint,
                                          write_cache)
from pt3kd_mm.datasets.transforms.teacher_features import LoadTeacherFeatures


@pytest.fixture
def teacher_file(tmp_path):
    path = str(tmp_path / 'teacher.pth')
    torch.save({'w': torch.arange(4.)}, path)
    return path


def test_round_trip_memory_mapped(tmp_path, teacher_file):
    cfg = dict(type='CLIPTextTeacher', model_name='ViT-B-32', checkpoint=teacher_file)
    feats = np.random.RandomState(0).randn(3, 5).astype(np.float32)
    out = write_cache(str(tmp_path / 'c'), ['a.png', 'b.png', 'c.png'], feats,
                      teacher_fingerprint(cfg), dtype='float16')
    cache = TeacherFeatureCache(out, cfg)
    assert isinstance(cache.features, np.memmap) and cache.features.dtype == np.float16
    assert len(cache) == 3 and 'b.png' in cache
    np.testing.assert_allclose(cache['b.png'], feats[1], atol=2e-3)
    assert cache['b.png'].dtype == np.float32
    exact = TeacherFeatureCache(write_cache(str(tmp_path / 'c32'), ['a', 'b', 'c'], feats,
                                            teacher_fingerprint(cfg), dtype='float32'), cfg)
    np.testing.assert_array_equal(exact['c'], feats[2])
    with pytest.raises(KeyError, match="no entry 'd.png'"):
        cache['d.png']


def test_mismatched_teacher_is_refused(tmp_path, teacher_file):
    cfg = dict(type='CLIPTextTeacher', model_name='ViT-B-32', checkpoint=teacher_file)
    out = write_cache(str(tmp_path / 'c'), ['a'], np.ones((1, 2), np.float32),
                      teacher_fingerprint(cfg))
    # same file moved elsewhere: accepted (content, not path, identifies the weights)
    moved = str(tmp_path / 'moved.pth')
    with open(teacher_file, 'rb') as f, open(moved, 'wb') as g:
        g.write(f.read())
    TeacherFeatureCache(out, dict(cfg, checkpoint=moved))
    # other weights
    other = str(tmp_path / 'other.pth')
    torch.save({'w': torch.zeros(4)}, other)
    with pytest.raises(ValueError, match='checkpoint sha256'):
        TeacherFeatureCache(out, dict(cfg, checkpoint=other))
    # other model
    with pytest.raises(ValueError, match="model_name: 'ViT-B-32' \\(cache\\) vs 'ViT-B-16'"):
        TeacherFeatureCache(out, dict(cfg, model_name='ViT-B-16'))
    # absent weights: config and file name still checked, with a warning
    with pytest.warns(UserWarning, match='absent'):
        TeacherFeatureCache(out, dict(cfg, checkpoint=str(tmp_path / 'gone' / 'teacher.pth')))
    with pytest.raises(ValueError, match='checkpoint file'), pytest.warns(UserWarning):
        TeacherFeatureCache(out, dict(cfg, checkpoint=str(tmp_path / 'gone' / 'x.pth')))


def test_bad_caches(tmp_path, teacher_file):
    cfg = dict(type='T', checkpoint=teacher_file)
    with pytest.raises(FileNotFoundError, match='meta.json'):
        TeacherFeatureCache(str(tmp_path / 'none'), cfg)
    with pytest.raises(ValueError, match='duplicate cache keys'):
        write_cache(str(tmp_path / 'd'), ['a', 'a'], np.ones((2, 2)), teacher_fingerprint(cfg))
    with pytest.raises(ValueError, match='NaN'):
        write_cache(str(tmp_path / 'n'), ['a'], np.full((1, 2), np.nan),
                    teacher_fingerprint(cfg))
    out = write_cache(str(tmp_path / 'v'), ['a'], np.ones((1, 2)), teacher_fingerprint(cfg))
    meta = json.load(open(osp.join(out, 'meta.json')))
    meta['num_rows'] = 2
    json.dump(meta, open(osp.join(out, 'meta.json'), 'w'))
    with pytest.raises(ValueError, match='meta.json says'):
        TeacherFeatureCache(out, cfg)


def test_transform_keys(tmp_path, teacher_file):
    cfg = dict(type='T', checkpoint=teacher_file)
    feats = np.arange(6, dtype=np.float32).reshape(3, 2)
    img = write_cache(str(tmp_path / 'img'), ['1-a.png', '1-b.png', '2-c.png'], feats,
                      teacher_fingerprint(cfg), dtype='float32')
    t = LoadTeacherFeatures(img, key='img_path', out_key='img_target', teacher=cfg)
    out = t(dict(img_path='/data/shapenet_img/1-b.png'))
    np.testing.assert_array_equal(out['img_target'], feats[1])
    txt = write_cache(str(tmp_path / 'txt'), ['A cube.', 'A sphere.'], feats[:2],
                      teacher_fingerprint(cfg), dtype='float32')
    t = LoadTeacherFeatures(txt, key='text', out_key='text_target')
    np.testing.assert_array_equal(t(dict(text='A sphere.'))['text_target'], feats[1])
    with pytest.raises(KeyError, match="no 'text'"):
        t(dict(img_path='x'))


# ------------------------------------------------------------------ contents and atomic writes
def _cache(tmp_path, teacher_file, name='c', seed=0, dtype='float16'):
    cfg = dict(type='T', checkpoint=teacher_file)
    feats = np.random.RandomState(seed).randn(4, 3).astype(np.float32)
    out = write_cache(str(tmp_path / name), ['a', 'b', 'c', 'd'], feats,
                      teacher_fingerprint(cfg), dtype=dtype,
                      extra=dict(kind='img', source_config='/cfgs/recon.py'))
    return out, cfg, feats


def test_meta_records_features_checksum(tmp_path, teacher_file):
    import hashlib
    out, _, feats = _cache(tmp_path, teacher_file)
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['format_version'] == 2
    assert (meta['num_rows'], meta['dims'], meta['dtype']) == (4, 3, 'float16')
    assert meta['features_sha256'] == hashlib.sha256(feats.astype(np.float16).tobytes()
                                                     ).hexdigest()


@pytest.mark.parametrize('swap', ['other_teacher', 'zeros'])
def test_swapped_features_are_refused(tmp_path, teacher_file, swap):
    """A features.npy of the same shape and dtype from elsewhere (another teacher's, or all
    zeros) used to load silently; its checksum now differs from meta.json's."""
    out, cfg, feats = _cache(tmp_path, teacher_file)
    other = (np.zeros_like(feats) if swap == 'zeros' else
             np.random.RandomState(1).randn(*feats.shape)).astype(np.float16)
    np.save(osp.join(out, 'features.npy'), other)
    path = osp.join(out, 'features.npy')
    with pytest.raises(ValueError, match='does not hold the features meta.json records') as info:
        TeacherFeatureCache(out, cfg)
    assert path in str(info.value) and 'tools/cache_teacher_features.py' in str(info.value)
    with pytest.raises(ValueError, match='does not hold the features'):
        LoadTeacherFeatures(out, key='img_path', teacher=cfg)


def test_all_zero_features_are_not_cached(tmp_path, teacher_file):
    with pytest.raises(ValueError, match='only zeros'):
        write_cache(str(tmp_path / 'z'), ['a'], np.zeros((1, 2)),
                    teacher_fingerprint(dict(type='T', checkpoint=teacher_file)))
    assert not osp.exists(tmp_path / 'z')


def test_truncated_features_file(tmp_path, teacher_file):
    """Was numpy's 'mmap length is greater than file size'."""
    out, cfg, _ = _cache(tmp_path, teacher_file)
    path = osp.join(out, 'features.npy')
    with open(path, 'r+b') as f:
        f.truncate(osp.getsize(path) - 5)
    with pytest.raises(ValueError, match='is truncated') as info:
        TeacherFeatureCache(out, cfg)
    assert path in str(info.value)
    assert ('python tools/cache_teacher_features.py /cfgs/recon.py --teacher img --out '
            f'{out} --dtype float16') in str(info.value)
    with open(path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError, match='not a readable .npy file'):
        TeacherFeatureCache(out, cfg)


def test_crash_while_writing_keeps_the_old_cache(tmp_path, teacher_file, monkeypatch):
    """A failure between writing features.npy and meta.json used to leave the new features
    next to the old meta.json (and a half-written meta.json: JSONDecodeError)."""
    from pt3kd_mm.utils import teacher_cache
    out, cfg, old = _cache(tmp_path, teacher_file, dtype='float32')
    before = sorted(os.listdir(tmp_path))

    def crash(*args, **kwargs):
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(teacher_cache.json, 'dumps', crash)
    with pytest.raises(OSError, match='simulated'):
        _cache(tmp_path, teacher_file, seed=1, dtype='float32')
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temporary folder left behind
    np.testing.assert_array_equal(TeacherFeatureCache(out, cfg)['b'], old[1])
    # a complete rebuild replaces it
    _, _, new = _cache(tmp_path, teacher_file, seed=1, dtype='float32')
    np.testing.assert_array_equal(TeacherFeatureCache(out, cfg)['b'], new[1])
    assert sorted(os.listdir(tmp_path)) == before


def test_folder_with_other_files_is_not_replaced(tmp_path, teacher_file):
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match="other files than a teacher feature cache"):
        _cache(tmp_path, teacher_file)
    assert (tmp_path / 'c' / 'notes.txt').read_text() == 'mine'


def test_invalid_meta_json(tmp_path, teacher_file):
    out, cfg, _ = _cache(tmp_path, teacher_file)
    with open(osp.join(out, 'meta.json'), 'w') as f:
        f.write('{"format_version": 2, "keys": [')
    with pytest.raises(ValueError, match='meta.json is not valid JSON') as info:
        TeacherFeatureCache(out, cfg)
    assert osp.join(out, 'meta.json') in str(info.value) and 'rebuild' in str(info.value)


def test_old_cache_without_checksum(tmp_path, teacher_file):
    out, cfg, _ = _cache(tmp_path, teacher_file)
    meta = json.load(open(osp.join(out, 'meta.json')))
    del meta['features_sha256']
    meta['format_version'] = 1
    json.dump(meta, open(osp.join(out, 'meta.json'), 'w'))
    with pytest.raises(ValueError, match='without a checksum of its features') as info:
        TeacherFeatureCache(out, cfg)
    assert ('rebuild it: python tools/cache_teacher_features.py /cfgs/recon.py --teacher img '
            f'--out {out}') in str(info.value)


# ------------------------------------------------------------------ rows of any shape
def test_shaped_rows_round_trip(tmp_path, teacher_file):
    """A (10, 768) ClipCap prefix per image: stored flattened, read back in its shape."""
    cfg = dict(type='T', checkpoint=teacher_file)
    feats = np.random.RandomState(0).randn(3, 10, 768).astype(np.float32)
    out = write_cache(str(tmp_path / 'prefix'), ['a.jpg', 'b.jpg', 'c.jpg'], feats,
                      teacher_fingerprint(cfg), dtype='float32')
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert (meta['num_rows'], meta['dims'], meta['row_shape']) == (3, 7680, [10, 768])
    assert np.load(osp.join(out, 'features.npy')).shape == (3, 7680)
    cache = TeacherFeatureCache(out, cfg)
    assert cache.row_shape == (10, 768)
    np.testing.assert_array_equal(cache['b.jpg'], feats[1])
    t = LoadTeacherFeatures(out, key='img_path', out_key='concept_target', teacher=cfg)
    assert t.row_shape == (10, 768)
    row = t(dict(img_path='/frames/scene0000_00/c.jpg'))['concept_target']
    assert row.shape == (10, 768) and row.dtype == np.float32
    np.testing.assert_array_equal(row, feats[2])
    # (N, D) rows record (D,)
    flat = write_cache(str(tmp_path / 'flat'), ['a'], feats[:1, 0], teacher_fingerprint(cfg))
    assert json.load(open(osp.join(flat, 'meta.json')))['row_shape'] == [768]
    assert TeacherFeatureCache(flat, cfg)['a'].shape == (768, )
    with pytest.raises(ValueError, match=r'expected \(N, \*row_shape\)'):
        write_cache(str(tmp_path / 'bad'), ['a', 'b'], feats[0, 0], teacher_fingerprint(cfg))


def test_caches_without_row_shape_keep_flat_rows(tmp_path, teacher_file):
    out, cfg, feats = _cache(tmp_path, teacher_file, dtype='float32')
    meta = json.load(open(osp.join(out, 'meta.json')))
    del meta['row_shape']  # a cache written before row_shape existed
    json.dump(meta, open(osp.join(out, 'meta.json'), 'w'))
    cache = TeacherFeatureCache(out, cfg)
    assert cache.row_shape == (3, )
    np.testing.assert_array_equal(cache['c'], feats[2])
    meta['row_shape'] = [2, 2]
    json.dump(meta, open(osp.join(out, 'meta.json'), 'w'))
    with pytest.raises(ValueError, match=r'row_shape \[2, 2\] does not hold its 3 values per '
                       r'row; rebuild the cache'):
        TeacherFeatureCache(out, cfg)


def test_nested_teacher_checkpoints_are_fingerprinted(tmp_path, teacher_file):
    """A ClipCapPrefixTeacher holds its CLIP teacher's config (and checkpoint) inside its own:
    that file is identified by content as well, not by path."""
    clip = str(tmp_path / 'clip.pth')
    torch.save({'v': torch.ones(2)}, clip)
    cfg = dict(type='ClipCapPrefixTeacher', checkpoint=teacher_file, prefix_length=10,
               clip=dict(type='CLIPImageTeacher', checkpoint=clip, model_name='ViT-B-32'))
    fingerprint = teacher_fingerprint(cfg)
    assert 'checkpoint' not in fingerprint['config']['clip']
    assert fingerprint['nested_checkpoints']['clip']['checkpoint_name'] == 'clip.pth'
    out = write_cache(str(tmp_path / 'c'), ['a'], np.ones((1, 2, 3), np.float32), fingerprint)
    moved = str(tmp_path / 'moved' / 'clip.pth')
    os.makedirs(osp.dirname(moved))
    torch.save({'v': torch.ones(2)}, moved)
    TeacherFeatureCache(out, dict(cfg, clip=dict(cfg['clip'], checkpoint=moved)))
    other = str(tmp_path / 'other_clip.pth')
    torch.save({'v': torch.zeros(2)}, other)
    with pytest.raises(ValueError, match=r'clip\.checkpoint sha256 \w+ \(cache\) vs \w+ '
                       r'\(config\)'):
        TeacherFeatureCache(out, dict(cfg, clip=dict(cfg['clip'], checkpoint=other)))
    with pytest.raises(ValueError, match=r"clip: .*'ViT-B-16'"):
        TeacherFeatureCache(out, dict(cfg, clip=dict(cfg['clip'], model_name='ViT-B-16')))
    with pytest.warns(UserWarning, match=r"teacher checkpoints absent here \(\['clip'\]\)"):
        gone = str(tmp_path / 'x' / 'clip.pth')
        TeacherFeatureCache(out, dict(cfg, clip=dict(cfg['clip'], checkpoint=gone)))
    # teachers without nested checkpoints keep the fingerprint they had
    assert 'nested_checkpoints' not in teacher_fingerprint(dict(type='T', checkpoint=clip))
