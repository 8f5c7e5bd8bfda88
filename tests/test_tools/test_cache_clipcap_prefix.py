"""tools/cache_teacher_features.py with a ClipCap prefix teacher: (prefix_length, D) rows per
image, stored flattened, read back in their shape, equal to the online teacher's output."""
import copy
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdet3d.registry import DATASETS, MODELS
from pt3kd_mm.testing import (DEMO_CLIP_CFG, REPO, load_tool, write_random_clip,
                              write_random_clipcap)

TINY = osp.join(REPO, 'tests/configs/tiny_recon.py')


def test_cache_of_clipcap_prefixes(demo_root, tmp_path):
    clip = write_random_clip(str(tmp_path / 'demo_clip.pth'), DEMO_CLIP_CFG)  # 224 px, 64-d
    clipcap = write_random_clipcap(str(tmp_path / 'clipcap.pt'), 'transformer', prefix_size=64,
                                   prefix_length=4, clip_length=2, gpt_embed_dims=16,
                                   num_layers=1, num_heads=2)
    concept = dict(type='ClipCapPrefixTeacher', checkpoint=clipcap, mapping_type='transformer',
                   prefix_size=64, prefix_length=4, clip_length=2, gpt_embed_dims=16,
                   num_layers=1, num_heads=2,
                   clip=dict(type='CLIPImageTeacher', model_cfg=DEMO_CLIP_CFG, checkpoint=clip,
                             channel_order='bgr', precision='fp32'))
    cfg_file = tmp_path / 'tiny_concept_cache.py'
    cfg_file.write_text(f'_base_ = [{TINY!r}]\nmodel = dict(concept_teacher={concept!r})\n')
    out = str(tmp_path / 'cache')
    build_cache = load_tool('tools/cache_teacher_features.py').build_cache
    build_cache([str(cfg_file), '--teacher', 'concept', '--out', out, '--dtype', 'float32',
                 '--num-workers', '0', '--batch-size', '5', '--device', 'cpu', '--cfg-options',
                 f'train_dataloader.dataset.data_root={demo_root}'])
    from pt3kd_mm.utils.teacher_cache import TeacherFeatureCache
    cache = TeacherFeatureCache(out, concept)
    assert len(cache) == 18 and cache.row_shape == (4, 16)
    assert cache.meta['kind'] == 'concept' and cache.meta['key'] == 'img_path'
    assert 'clip' in cache.meta['teacher']['nested_checkpoints']

    # the rows are the online teacher's output on the same images
    cfg = Config.fromfile(str(cfg_file))
    pipeline = copy.deepcopy(cfg.img_test_pipeline) + [
        dict(type='LoadTeacherFeatures', cache_dir=out, key='img_path', out_key='target'),
        dict(type='Pack3DDetInputs', keys=['img'], meta_keys=('img_path', 'target'))]
    ds = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root, pipeline=pipeline))
    batch = pseudo_collate([ds[i] for i in (0, 5)])
    teacher = MODELS.build(concept)
    online = teacher(torch.stack(batch['inputs']['img']).float())
    cached = np.stack([s.target for s in batch['data_samples']])
    assert cached.shape == (2, 4, 16)
    np.testing.assert_allclose(cached, online.numpy(), rtol=1e-5, atol=1e-5)
