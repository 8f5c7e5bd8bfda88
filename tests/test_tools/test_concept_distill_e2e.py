"""Concept distillation end to end on the synthetic RGB-D demo: .sens scans -> converter ->
pairs -> tools/train.py (training + validation) -> tools/test.py -> the teacher feature cache
(its rows are the online teacher's targets) -> training from the cache without images; and every
ablation config of configs/concept_distill/ builds and computes its loss with teachers of the
real sizes (random weights)."""
import copy
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmdet3d.registry import DATASETS, MODELS
from pt3kd_mm.datasets.converters.scannet_frames import convert_scannet_frames
from pt3kd_mm.testing import REPO, load_tool, run_tool, write_random_clip, write_random_clipcap
from pt3kd_mm.testing.demo_rgbd import create_rgbd_demo

TINY = osp.join(REPO, 'tests/configs/tiny_concept_distill.py')
TINY_CACHED = osp.join(REPO, 'tests/configs/tiny_concept_distill_cached.py')
CONFIGS = osp.join(REPO, 'configs/concept_distill')
FULL = osp.join(CONFIGS, 'concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py')
DEMO_CLIP_CFG = Config.fromfile(TINY).demo_clip_cfg.to_dict()


@pytest.fixture(scope='module')
def pairs_root(tmp_path_factory):
    """The demo scans (2 x 20 frames) converted every 4th frame: 5 train / 5 val pairs."""
    root = tmp_path_factory.mktemp('rgbd')
    create_rgbd_demo(str(root / 'raw'), num_scenes=2, frames_per_scene=20)
    summary = convert_scannet_frames(str(root / 'pairs'), sens_root=str(root / 'raw' / 'scans'),
                                     split_dir=str(root / 'raw'), frame_skip=4, progress=False)
    assert summary.skipped == [] and summary.pairs == dict(train=5, val=5)
    return str(root / 'pairs')


@pytest.fixture(scope='module')
def demo_teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('teachers')
    clip = write_random_clip(str(root / 'demo_clip_random.pth'), DEMO_CLIP_CFG, seed=0)
    clipcap = write_random_clipcap(str(root / 'demo_clipcap_random.pt'), 'mlp', prefix_size=64,
                                   prefix_length=10, gpt_embed_dims=64, seed=0)
    return clip, clipcap


def options(root, clip, clipcap,
            loaders=('train_dataloader', 'val_dataloader', 'test_dataloader')):
    return [f'{loader}.dataset.data_root={root}' for loader in loaders] + [
                f'model.img_teacher.clip.checkpoint={clip}',
                f'model.img_teacher.checkpoint={clipcap}']


@pytest.mark.e2e
def test_convert_train_test_cache_and_cached_training(pairs_root, demo_teachers, tmp_path):
    clip, clipcap = demo_teachers
    py, work = sys.executable, str(tmp_path / 'work')
    opts = options(pairs_root, clip, clipcap)
    out = run_tool([py, 'tools/train.py', TINY, '--work-dir', work, '--cfg-options', *opts])
    assert 'loss_distill' in out and 'distill/mse' in out and 'distill/cosine' in out
    ckpt = osp.join(work, 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert 'neck.queries' in state and 'neck.layer.cross_attn.attn.in_proj_weight' in state
    # the frozen CLIP tower and the ClipCap mapper are in no student checkpoint
    assert not [k for k in state if 'teacher' in k or 'visual' in k or 'clip_project' in k]
    out = run_tool([py, 'tools/test.py', TINY, ckpt, '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', *opts])
    assert 'distill/mse' in out

    # the cache: one (10, 64) prefix per training pair, keyed by the unique image file name
    cache = str(tmp_path / 'cache')
    load_tool('tools/cache_teacher_features.py').build_cache(
        [TINY, '--teacher', 'img', '--out', cache, '--dtype', 'float32', '--num-workers', '0',
         '--batch-size', '2', '--cfg-options', *opts])
    from pt3kd_mm.utils.teacher_cache import TeacherFeatureCache
    rows = TeacherFeatureCache(cache)
    assert len(rows) == 5 and rows.row_shape == (10, 64)

    # the cached rows are the targets the online teacher gives for the same frames
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict({o.split('=')[0]: o.split('=', 1)[1] for o in opts})
    model = MODELS.build(cfg.model).eval()
    online = DATASETS.build(cfg.train_dataloader.dataset)
    cached_cfg = Config.fromfile(TINY_CACHED)
    cached_opts = options(pairs_root, clip, clipcap, loaders=('train_dataloader', ))
    cached_cfg.merge_from_dict({o.split('=')[0]: o.split('=', 1)[1] for o in cached_opts})
    cached_cfg.train_dataloader.dataset.pipeline[3].cache_dir = cache
    cached = DATASETS.build(cached_cfg.train_dataloader.dataset)
    assert [osp.basename(d['img_path']) for d in online.data_list] == \
        [osp.basename(d['img_path']) for d in cached.data_list]
    batch = model.data_preprocessor(pseudo_collate([online[i] for i in range(5)]))
    cached_batch = model.data_preprocessor(pseudo_collate([cached[i] for i in range(5)]))
    assert 'img' not in cached_batch['inputs']  # training from the cache reads no image
    from_teacher = model.teacher_targets(batch['inputs'], batch['data_samples'])
    from_cache = model.teacher_targets(cached_batch['inputs'], cached_batch['data_samples'])
    assert from_teacher.shape == from_cache.shape == (5, 10, 64)
    torch.testing.assert_close(from_cache, from_teacher, atol=1e-5, rtol=1e-5)
    assert from_teacher.std(0).mean() > 1e-3  # frames give different targets

    # training from the cache: the teacher files are gone from these paths
    absent = [str(tmp_path / 'elsewhere' / osp.basename(p)) for p in (clip, clipcap)]
    out = run_tool([py, 'tools/train.py', TINY_CACHED, '--work-dir', str(tmp_path / 'cached'),
                    '--cfg-options', *options(pairs_root, *absent, loaders=('train_dataloader', )),
                    f'train_dataloader.dataset.pipeline.3.cache_dir={cache}'])
    assert 'loss_distill' in out and osp.isfile(osp.join(tmp_path, 'cached', 'epoch_1.pth'))


@pytest.fixture(scope='module')
def real_size_teachers(tmp_path_factory):
    """Random CLIP ViT-B/32 (QuickGELU) and ClipCap MLP mapper files of the paper's sizes."""
    root = tmp_path_factory.mktemp('real_size')
    clip = write_random_clip(str(root / 'clip_vit_b32.pth'), model_name='ViT-B-32-quickgelu')
    clipcap = write_random_clipcap(str(root / 'clipcap_mlp.pt'), 'mlp', prefix_size=512,
                                   prefix_length=10, gpt_embed_dims=768, seed=0)
    return clip, clipcap


ABLATIONS = {
    # config suffix: (loss keys, the target shape, concept queries, alignment)
    'clipcap-mlp': (('loss_distill', ), (10, 768), True, 'global'),
    'no-concept': (('loss_distill', ), (10, 768), False, 'global'),
    'no-caption': (('loss_distill', ), (512, ), True, 'global'),
    'local-align': (('loss_distill', ), (49, 512), False, 'local'),
    'with-mae': (('loss_distill', 'loss_rec'), (10, 768), True, 'global'),
}


@pytest.mark.parametrize('name', sorted(ABLATIONS))
def test_ablation_configs_compute_their_loss_with_real_size_teachers(
        name, pairs_root, real_size_teachers):
    """Each ablation's head matches its teacher's output (built from the config with random
    weights of the real sizes: CLIP ViT-B/32, ClipCap 512 -> 10 x 768) and its loss runs on
    demo pairs; the recipe (AdamW 1e-3 / wd 0.05, cosine with 10 warm-up epochs, 250 epochs,
    4096 points, 64 x 32 groups, 12 x 384 x 6) is inherited unchanged."""
    loss_keys, target_shape, with_queries, alignment = ABLATIONS[name]
    cfg = Config.fromfile(
        osp.join(CONFIGS, f'concept-distill_{name}_1xb128-250e_scannet-frames.py'))
    assert cfg.train_cfg.max_epochs == 250 and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.param_scheduler[0].type == 'ReferenceCosineLR' and cfg.warmup_epochs == 10
    assert cfg.num_points == 4096 and cfg.train_dataloader.dataset.pipeline[1].num_points == 4096
    bb = cfg.model.backbone
    assert (bb.num_groups, bb.group_size, bb.embed_dims, bb.depth, bb.num_heads) == \
        (64, 32, 384, 12, 6)
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline][-2] == 'RandomScaleTranslate'

    clip, clipcap = real_size_teachers
    teacher = copy.deepcopy(cfg.model.img_teacher)
    if teacher.type == 'ClipCapPrefixTeacher':
        teacher.clip.checkpoint, teacher.checkpoint = clip, clipcap
    else:
        teacher.checkpoint = clip
    init_default_scope('mmdet3d')
    cfg.model.img_teacher = teacher
    # a small student keeps the test fast; the head and teacher are the config's
    cfg.model.backbone.update(embed_dims=48, depth=2, num_heads=2, num_groups=16, group_size=8)
    if cfg.model.get('neck'):
        cfg.model.neck.num_heads = 2
    if cfg.model.get('reconstruction'):
        cfg.model.reconstruction.neck.update(depth=1, num_heads=2)
    model = MODELS.build(cfg.model)
    assert model.alignment == alignment and model.with_neck == with_queries
    assert tuple(model.head.target_shape) == target_shape
    assert tuple(model.teachers['img'].target_shape) == target_shape

    cfg.train_dataloader.dataset.data_root = pairs_root
    cfg.train_dataloader.dataset.pipeline[1].num_points = 512
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=True)
    torch.manual_seed(0)
    losses = model(**batch, mode='loss')
    assert tuple(sorted(losses)) == tuple(sorted(loss_keys))
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_transformer_mapper_config_is_clipcaps_release():
    """The transformer-mapper variant: CLIP RN50x4 (640-d, 288 px), 8 layers, 40 x 768 prefix;
    its images are cropped to 288 and the head regresses (40, 768)."""
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'concept-distill_clipcap-transformer_1xb128-250e_scannet-frames.py'))
    t = cfg.model.img_teacher
    assert (t.mapping_type, t.prefix_length, t.clip_length, t.num_layers, t.prefix_size) == \
        ('transformer', 40, 40, 8, 640)
    assert t.clip.model_name == 'RN50x4-quickgelu'
    assert tuple(cfg.model.head.target_shape) == (40, 768)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        sizes = [s.size for s in loader.dataset.pipeline if s.type == 'ResizeCropFrameImage']
        assert sizes == [288]
    assert [s.size for s in cfg.img_test_pipeline if s.type == 'ResizeCropFrameImage'] == [288]
    import open_clip
    assert open_clip.get_model_config('RN50x4-quickgelu')['vision_cfg']['image_size'] == 288
    assert open_clip.get_model_config('RN50x4-quickgelu')['embed_dim'] == 640
