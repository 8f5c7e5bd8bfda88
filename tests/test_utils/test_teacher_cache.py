"""The teacher feature cache: write / memory-mapped read, fingerprint checks, the transform."""
import json
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
