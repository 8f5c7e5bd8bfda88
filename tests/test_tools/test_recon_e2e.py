"""ReCon end to end on the demo data with a small random CLIP saved to a file: training,
zero-shot testing, the teacher feature cache (same loss as the online teacher, mismatch
refused) and training from the cache without any teacher."""
import copy
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdet3d.registry import DATASETS, METRICS, MODELS
from pt3kd_mm.testing import DEMO_CLIP_CFG, REPO, load_tool, write_random_clip
from pt3kd_mm.testing import run_tool as run

TINY = osp.join(REPO, 'tests/configs/tiny_recon.py')
TINY_CACHED = osp.join(REPO, 'tests/configs/tiny_recon_cached.py')
TINY_MODELNET = osp.join(REPO, 'tests/configs/tiny_recon_zeroshot_modelnet40.py')


@pytest.fixture(scope='module')
def demo_clip(tmp_path_factory):
    return write_random_clip(str(tmp_path_factory.mktemp('clip') / 'demo_clip_random.pth'),
                             DEMO_CLIP_CFG, seed=0)


def options(root, clip):
    return [f'train_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'model.img_teacher.checkpoint={clip}', f'model.text_teacher.checkpoint={clip}',
            f'test_evaluator.text_teacher.checkpoint={clip}']


def build_caches(root, clip, out, dtype='float16'):
    build_cache = load_tool('tools/cache_teacher_features.py').build_cache
    for name in ('img', 'text'):
        build_cache([TINY, '--teacher', name, '--out', osp.join(out, name), '--dtype', dtype,
                     '--num-workers', '0', '--batch-size', '5', '--cfg-options',
                     *options(root, clip)])
    return osp.join(out, 'img'), osp.join(out, 'text')


@pytest.mark.e2e
def test_train_zero_shot_test_cache_and_cached_training(demo_root, modelnet_root, demo_clip,
                                                        tmp_path):
    py, work = sys.executable, str(tmp_path / 'work')
    out = run([py, 'tools/train.py', TINY, '--work-dir', work, '--cfg-options',
               *options(demo_root, demo_clip), 'train_cfg.max_epochs=1'])
    for key in ('loss_rec', 'loss_img', 'loss_text'):
        assert key in out
    ckpt = osp.join(work, 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert 'backbone.query_tokens' in state and 'img_head.proj.weight' in state
    assert not [k for k in state if 'teacher' in k or 'visual' in k or 'network' in k]

    out = run([py, 'tools/test.py', TINY, ckpt, '--work-dir', str(tmp_path / 'test'),
               '--cfg-options', *options(demo_root, demo_clip)])
    assert 'zero_shot/top1' in out and 'zero_shot/mean_class_acc' in out
    out = run([py, 'tools/test.py', TINY_MODELNET, ckpt, '--work-dir', str(tmp_path / 'mn'),
               '--cfg-options', *options(demo_root, demo_clip),
               f'test_dataloader.dataset.data_root={modelnet_root}'])
    assert 'zero_shot/top1' in out and 'Epoch(test) [3/3]' in out  # 12 shapes, batch 4

    img_cache, text_cache = build_caches(demo_root, demo_clip, str(tmp_path / 'cache'))
    from pt3kd_mm.utils.teacher_cache import TeacherFeatureCache
    assert len(TeacherFeatureCache(img_cache)) == 18  # the 18 training shapes, one view each
    assert len(TeacherFeatureCache(text_cache)) == 6 * 60  # 6 classes x 60 templates

    # the teacher weights are gone from this path: training must not need them (the cache
    # check falls back to the config and file name, with a warning)
    absent = str(tmp_path / 'elsewhere' / 'demo_clip_random.pth')
    out = run([py, 'tools/train.py', TINY_CACHED, '--work-dir', str(tmp_path / 'cached'),
               '--cfg-options', *options(demo_root, absent), 'train_cfg.max_epochs=1',
               f'train_dataloader.dataset.pipeline.4.cache_dir={img_cache}',
               f'train_dataloader.dataset.pipeline.5.cache_dir={text_cache}'])
    assert 'loss_img' in out and 'loss_text' in out
    assert osp.isfile(osp.join(tmp_path, 'cached', 'epoch_1.pth'))


def _batch(cfg, root, cache=None):
    """4 demo samples through a deterministic pipeline (no augmentation, fixed template)."""
    pipeline = [
        dict(type='LoadPointCloudNpy'),
        dict(type='PointSubsample', num_points=128, method='fps'),
        dict(type='NormalizeToUnitSphere'),
        *copy.deepcopy(cfg.img_test_pipeline),
        dict(type='RandomTextPrompt', template_index=7),
    ]
    meta = ['text', 'img_path']
    if cache:
        pipeline += [dict(type='LoadTeacherFeatures', cache_dir=cache[0], key='img_path',
                          out_key='img_target'),
                     dict(type='LoadTeacherFeatures', cache_dir=cache[1], key='text',
                          out_key='text_target')]
        meta += ['img_target', 'img_target_cache', 'text_target', 'text_target_cache']
    pipeline.append(dict(type='Pack3DDetInputs', keys=['points', 'img'], meta_keys=meta))
    ds = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=root, pipeline=pipeline))
    return pseudo_collate([ds[i] for i in (0, 4, 8, 12)])


def _losses(model, batch):
    data = model.data_preprocessor(batch, training=True)
    torch.manual_seed(0)
    return {k: v.item() for k, v in model(**data, mode='loss').items()}


@pytest.mark.e2e
def test_cached_targets_give_the_online_loss(demo_root, demo_clip, tmp_path):
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict(dict(a.split('=', 1) for a in options(demo_root, demo_clip)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    online = _losses(model, _batch(cfg, demo_root))
    assert set(online) == {'loss_rec', 'loss_img', 'loss_text'}
    assert model.teachers.built == {'img', 'text'}
    # predict: img_head(img query) + 0.25 * text_head(text query) of the whole clouds
    model.eval()
    batch = _batch(cfg, demo_root)
    data = model.data_preprocessor(batch)
    samples = model(**data, mode='predict')
    queries = model.backbone(data['inputs']['points'])['query_tokens']
    expect = model.img_head(queries[:, 1]) + 0.25 * model.text_head(queries[:, 2])
    got = np.stack([s.zero_shot_embedding for s in samples])
    np.testing.assert_allclose(got, expect.detach().numpy(), rtol=1e-5, atol=1e-6)
    model.train()
    for dtype, tol in (('float32', 1e-5), ('float16', 2e-3)):
        caches = build_caches(demo_root, demo_clip, str(tmp_path / dtype), dtype)
        fresh = MODELS.build(cfg.model)
        fresh.load_state_dict(model.state_dict())
        cached = _losses(fresh, _batch(cfg, demo_root, caches))
        assert fresh.teachers.built == set()  # the teachers never ran
        for key in online:
            assert cached[key] == pytest.approx(online[key], rel=tol, abs=tol), (dtype, key)


def test_cache_of_another_teacher_is_refused(demo_root, demo_clip, tmp_path):
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict(dict(a.split('=', 1) for a in options(demo_root, demo_clip)))
    caches = build_caches(demo_root, demo_clip, str(tmp_path / 'c'))
    other = write_random_clip(str(tmp_path / 'other_clip.pth'), DEMO_CLIP_CFG, seed=1)
    cfg.model.img_teacher.checkpoint = other
    model = MODELS.build(cfg.model)
    batch = _batch(cfg, demo_root, caches)
    with pytest.raises(ValueError, match=r'was made by another teacher.*checkpoint sha256'):
        _losses(model, batch)
    # a cached target whose source is not packed cannot be checked: refused too
    for sample in batch['data_samples']:
        del sample.img_target_cache
    cfg.model.img_teacher.checkpoint = demo_clip
    with pytest.raises(KeyError, match="add 'img_target_cache'"):
        _losses(MODELS.build(cfg.model), batch)


def test_zero_shot_is_exact_when_the_answer_is_known(demo_clip):
    """Clouds whose embedding is their class's prompt embedding (plus noise smaller than the
    class gaps) are all classified right by the metric, with the real text teacher."""
    from pt3kd_mm.datasets.transforms import recon_prompts
    from pt3kd_mm.evaluation.metrics.zero_shot_metric import class_text_embeddings
    text_teacher = dict(type='CLIPTextTeacher', model_cfg=DEMO_CLIP_CFG, checkpoint=demo_clip)
    names = ['sphere', 'cube', 'cylinder', 'cone', 'torus', 'table']
    metric = METRICS.build(dict(type='ZeroShotAccuracy', text_teacher=text_teacher))
    metric.dataset_meta = dict(classes=names)
    class_emb = class_text_embeddings(MODELS.build(text_teacher), names, recon_prompts)
    gen = torch.Generator().manual_seed(0)
    samples = []
    for label in [0, 1, 2, 3, 4, 5, 5, 2, 0]:
        emb = class_emb[label] * (0.5 + torch.rand(1, generator=gen))
        emb = emb + 1e-3 * class_emb.norm(dim=1).min() * torch.randn(emb.shape, generator=gen)
        samples.append(dict(zero_shot_embedding=emb.numpy(), category=label))
    metric.process({}, samples)
    result = metric.evaluate(len(samples))
    assert result['zero_shot/top1'] == 100.0 and result['zero_shot/mean_class_acc'] == 100.0
    # and a wrong answer is scored as wrong
    metric.process({}, [dict(zero_shot_embedding=class_emb[1].numpy(), category=0)])
    assert metric.evaluate(1)['zero_shot/top1'] == 0.0


@pytest.mark.e2e
def test_two_process_training(demo_root, demo_clip, tmp_path):
    """DDP (gloo, 2 CPU processes): teachers built lazily in every rank outside DDP, no unused
    parameters; one checkpoint without teacher weights."""
    work = str(tmp_path / 'dist')
    out = run(['bash', 'tools/dist_train.sh', TINY, '2', '--work-dir', work, '--cfg-options',
               *options(demo_root, demo_clip), 'train_cfg.max_epochs=1',
               'train_dataloader.batch_size=2'], timeout=600,
              extra_env=dict(PYTHON=sys.executable, PORT='29541'))
    assert 'Epoch(train) [1][4/4]' in out and 'loss_text' in out  # 18 clouds / 2 ranks / 2
    state = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert not [k for k in state if 'teacher' in k or 'network' in k]
