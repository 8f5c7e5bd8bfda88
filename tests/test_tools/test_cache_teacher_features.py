"""``tools/cache_teacher_features.py`` with text teachers: every text teacher is recognised
(``takes_texts``), and prompts come from the class names or, with another ``name_key``, from
every sample's text (the per-model texts of ``ShapeNet55Dataset(texts_file=...)``)."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest

from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers import (CLIPImageTeacher, CLIPTextTeacher, ClipCapPrefixTeacher,
                                      ConfigModelTeacher, DINOv2ImageTeacher,
                                      SentenceTextTeacher)
from pt3kd_mm.testing import DEMO_CLIP_CFG, REPO, load_tool, write_random_clip

TINY = osp.join(REPO, 'tests/configs/tiny_recon.py')
MINILM = osp.join(REPO, 'tests/data/minilm_tiny')
SENTENCE_TEACHER = dict(type='SentenceTextTeacher', checkpoint=MINILM, precision='fp32')


def test_text_teachers_are_marked():
    assert CLIPTextTeacher.takes_texts and SentenceTextTeacher.takes_texts
    for cls in (CLIPImageTeacher, DINOv2ImageTeacher, ClipCapPrefixTeacher,
                ConfigModelTeacher):
        assert not cls.takes_texts, cls


def _read(cache):
    with open(osp.join(cache, 'meta.json')) as f:
        meta = json.load(f)
    return meta, np.load(osp.join(cache, 'features.npy'))


def _texts_config(tmp_path, demo_root):
    """A copy of the demo data with per-model texts (two clouds of a class share one) and a
    config whose text teacher is the tiny MiniLM and whose prompts are those texts."""
    root = str(tmp_path / 'data')
    shutil.copytree(demo_root, root)
    with open(osp.join(root, 'ShapeNet-55', 'train.txt')) as f:
        clouds = [ln.strip()[:-len('.npy')] for ln in f if ln.strip()]
    texts = {c: f'{c.split("-")[0]} model {i // 2}' for i, c in enumerate(clouds)}
    with open(osp.join(root, 'texts.json'), 'w') as f:
        json.dump(texts, f)
    cfg = tmp_path / 'per_model_texts.py'
    cfg.write_text(
        f"_base_ = [{TINY!r}]\n"
        f"model = dict(text_teacher=dict(_delete_=True, **{SENTENCE_TEACHER!r}))\n"
        f"train_pipeline = [dict(type='LoadPointCloudNpy'),\n"
        f"                  dict(type='RandomTextPrompt', name_key='model_text',\n"
        f"                       templates=['{{}}'])]\n"
        f"train_dataloader = dict(dataset=dict(data_root={root!r}, texts_file='texts.json',\n"
        f"                                     pipeline=train_pipeline))\n")
    return str(cfg), [texts[c] for c in clouds]


def test_sentence_teacher_caches_every_model_text(tmp_path, demo_root):
    config, texts_in_order = _texts_config(tmp_path, demo_root)
    expected = list(dict.fromkeys(texts_in_order))  # deduplicated, first occurrence first
    assert len(expected) < len(texts_in_order)  # the test data does share texts
    build_cache = load_tool('tools/cache_teacher_features.py').build_cache
    out = str(tmp_path / 'text_cache')
    build_cache([config, '--teacher', 'text', '--out', out, '--dtype', 'float32',
                 '--batch-size', '4', '--num-workers', '0', '--device', 'cpu'])
    meta, feats = _read(out)
    assert meta['key'] == 'text' and meta['keys'] == expected
    teacher = MODELS.build(SENTENCE_TEACHER)
    np.testing.assert_allclose(feats, teacher(expected).numpy(), rtol=1e-5, atol=1e-6)
    assert feats.shape == (len(expected), teacher.embed_dims)


def test_sample_without_the_text_key_is_named(tmp_path, demo_root):
    config, _ = _texts_config(tmp_path, demo_root)
    build_cache = load_tool('tools/cache_teacher_features.py').build_cache
    with pytest.raises(KeyError, match=r"RandomTextPrompt reads 'model_text', but sample 0 "
                       r"of the dataset has no such key"):
        build_cache([config, '--teacher', 'text', '--out', str(tmp_path / 'c'),
                     '--num-workers', '0', '--device', 'cpu',
                     '--cfg-options', 'train_dataloader.dataset.texts_file=None'])


def test_clip_text_teacher_still_caches_class_prompts(tmp_path, demo_root):
    clip = write_random_clip(str(tmp_path / 'clip.pth'), DEMO_CLIP_CFG, seed=0)
    build_cache = load_tool('tools/cache_teacher_features.py').build_cache
    out = str(tmp_path / 'clip_text')
    build_cache([TINY, '--teacher', 'text', '--out', out, '--num-workers', '0',
                 '--device', 'cpu', '--cfg-options',
                 f'train_dataloader.dataset.data_root={demo_root}',
                 f'model.text_teacher.checkpoint={clip}',
                 f'model.img_teacher.checkpoint={clip}'])
    meta, feats = _read(out)
    # 6 demo classes x the 60 ReCon templates (name_key='category_name')
    assert meta['key'] == 'text' and len(meta['keys']) == feats.shape[0] == 6 * 60
    assert 'A 3D model of a sphere.' in meta['keys']


def test_folder_checkpoints_are_fingerprinted(tmp_path):
    from pt3kd_mm.utils.teacher_cache import fingerprint_mismatch, teacher_fingerprint
    folder = tmp_path / 'minilm'
    shutil.copytree(MINILM, folder)
    cfg = dict(SENTENCE_TEACHER, checkpoint=str(folder) + '/')
    first = teacher_fingerprint(cfg)
    assert first['checkpoint_name'] == 'minilm' and len(first['checkpoint_sha256']) == 64
    assert teacher_fingerprint(cfg) == first
    with open(folder / '1_Pooling' / 'config.json', 'a') as f:
        f.write('\n')  # any file of the folder changes the fingerprint
    assert fingerprint_mismatch(teacher_fingerprint(cfg), first) == [
        f"checkpoint sha256 {teacher_fingerprint(cfg)['checkpoint_sha256']} (cache) vs "
        f"{first['checkpoint_sha256']} (config)"]
