"""Every config parses and builds its model; facts are set once and disagreements are errors."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO

# configs whose model builds without teacher files (the others are built with tiny random
# teachers in the end-to-end tests)
NO_TEACHER_FILES = ['point_mae_pretrain.py', 'recon_pretrain.py', 'recon_s_pretrain.py',
                    'recon_t_pretrain.py', 'recon_nce_pretrain.py', 'recon_pretrain_cached.py']


def test_every_config_parses():
    paths = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
    assert len(paths) >= 12
    for path in paths:
        cfg = Config.fromfile(path)
        assert cfg.default_scope == 'mmdet3d', path
        assert cfg.custom_imports['imports'] == ['pt3kd_mm'], path


@pytest.mark.parametrize('name', NO_TEACHER_FILES)
def test_model_builds_with_sizes_from_the_backbone(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    model = MODELS.build(cfg.model)
    width = cfg.model.backbone.embed_dims
    assert model.neck.mask_token.shape[-1] == width
    assert model.head.proj.in_features == width
    assert model.head.group_size == cfg.model.backbone.group_size
    for head in ('img_head', 'text_head'):
        if hasattr(model, head):
            assert getattr(model, head).proj.in_features == width


def test_recon_variants_set_width_once():
    for name, width, heads in (('recon_s_pretrain.py', 256, 4), ('recon_t_pretrain.py', 192, 3)):
        cfg = Config.fromfile(osp.join(REPO, 'configs', name))
        assert cfg.model.backbone.embed_dims == width and cfg.model.neck.num_heads == heads
        for part in ('neck', 'head', 'img_head', 'text_head'):
            assert 'embed_dims' not in cfg.model[part], (name, part)


def test_disagreeing_sizes_are_errors():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'point_mae_pretrain.py'))
    cfg.model.backbone.update(embed_dims=32, depth=1, num_heads=2, group_size=16)
    cfg.model.neck.update(depth=1, num_heads=2)
    bad = cfg.model.copy()
    bad.head = dict(bad.head, group_size=32)
    with pytest.raises(ValueError, match=r'model\.head\.group_size = 32 but '
                                         r'model\.backbone\.group_size = 16'):
        MODELS.build(bad)
    bad = cfg.model.copy()
    bad.neck = dict(bad.neck, embed_dims=64)
    with pytest.raises(ValueError, match=r'model\.neck\.embed_dims = 64 but '
                                         r'model\.backbone\.embed_dims = 32'):
        MODELS.build(bad)
    model = MODELS.build(cfg.model)  # set once: both parts follow
    assert model.head.group_size == 16 and model.neck.mask_token.shape[-1] == 32


def test_act_student_and_teacher_must_group_alike(tmp_path):
    import timm
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    vit_path = str(tmp_path / 'tiny_vit.pth')
    torch.save(vit.state_dict(), vit_path)
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_act_pretrain.py'))
    cfg.model.teacher.model.vit_blocks.checkpoint = vit_path
    stage1 = MODELS.build(cfg.model.teacher.model)
    cfg.model.teacher.checkpoint = str(tmp_path / 'stage1.pth')
    torch.save({'state_dict': stage1.state_dict()}, cfg.model.teacher.checkpoint)
    assert 'target_dims' not in cfg.model.head
    model = MODELS.build(cfg.model)
    assert model.head.proj.out_features == stage1.embed_dims == 24  # from the teacher
    cfg.model.backbone.group_size = 16
    with pytest.raises(ValueError, match=r'model\.backbone\.group_size = 16 but the stage-1 '
                                         r'teacher \(model\.teacher\.model\.group_size\)'):
        MODELS.build(cfg.model)


def test_cosine_ends_at_max_epochs(demo_root, tmp_path):
    """The schedule's cosine `end` is not written anywhere: the runner takes max_epochs."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/point_mae_pretrain_demo.py'))
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = demo_root
    cfg.train_cfg.max_epochs = 3
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    schedulers = runner.build_param_scheduler(cfg.param_scheduler)
    iters_per_epoch = len(runner.train_dataloader)
    warmup, cosine = schedulers
    assert (warmup.begin, warmup.end) == (0, iters_per_epoch)
    assert (cosine.begin, cosine.end) == (iters_per_epoch, 3 * iters_per_epoch)
    assert cosine.T_max == 2 * iters_per_epoch


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(REPO, 'configs', '*.py'))) +
                         sorted(glob.glob(osp.join(REPO, 'tests', 'configs', '*.py'))))
def test_image_teachers_are_told_the_pipeline_channel_order(path):
    from pt3kd_mm.engine.config_checks import check_image_channel_order
    check_image_channel_order(Config.fromfile(path))


def test_recon_image_teacher_defaults_are_the_reference():
    """Tanh(pre-logits(CLS)) of Google's original in21k ViT-B/16 on BGR views normalised with
    ImageNet's statistics; CLIP teachers are told BGR and turn it into RGB."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'recon_pretrain.py'))
    vit = cfg.model.img_teacher
    assert vit.type == 'ViTImageTeacher' and vit.pre_logits and vit.source == 'timm'
    assert vit.checkpoint.endswith('jx_vit_base_patch16_224_in21k.pth')
    assert vit.channel_order == 'bgr'
    assert vit.mean == (0.485, 0.456, 0.406) and vit.std == (0.229, 0.224, 0.225)
    assert cfg.train_dataloader.dataset.pipeline[4] == dict(type='LoadRenderedImage',
                                                            to_rgb=False)
    assert cfg.img_test_pipeline[0].to_rgb is False
    for name in ('recon_clip_pretrain.py', 'recon_clip_pretrain_demo.py'):
        clip = Config.fromfile(osp.join(REPO, 'configs', name)).model.img_teacher
        assert clip.type == 'CLIPImageTeacher' and clip.channel_order == 'bgr', name


def test_channel_order_mismatch_is_refused_and_changes_the_cache_fingerprint():
    from pt3kd_mm.engine.config_checks import check_image_channel_order
    from pt3kd_mm.utils.teacher_cache import fingerprint_mismatch, teacher_fingerprint
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'recon_clip_pretrain.py'))
    cfg.model.img_teacher.channel_order = 'rgb'
    with pytest.raises(ValueError, match=r"train_dataloader\.dataset\.pipeline\[4\] loads BGR "
                       r"\(to_rgb=False\); img_test_pipeline\[0\] loads BGR \(to_rgb=False\); "
                       r"model\.img_teacher takes RGB \(channel_order='rgb'\)"):
        check_image_channel_order(cfg)
    cfg.img_test_pipeline[0].to_rgb = True
    cfg.train_dataloader.dataset.pipeline[4].to_rgb = True
    check_image_channel_order(cfg)  # RGB throughout is fine
    cfg.train_dataloader.dataset.pipeline[4].to_rgb = False  # the cache tool's view differs
    with pytest.raises(ValueError, match=r'pipeline\[4\] loads BGR'):
        check_image_channel_order(cfg)
    # a cache made for one order is refused for the other (the teacher config differs)
    vit = Config.fromfile(osp.join(REPO, 'configs', 'recon_pretrain.py')).model.img_teacher
    found = teacher_fingerprint(vit, require_checkpoint=False)
    expected = teacher_fingerprint(dict(vit, channel_order='rgb'), require_checkpoint=False)
    assert fingerprint_mismatch(found, expected) == \
        ["channel_order: 'bgr' (cache) vs 'rgb' (config)"]
