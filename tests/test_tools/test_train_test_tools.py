"""End to end: tools/train.py, resume, tools/test.py and tools/dist_train.sh on a tiny config."""
import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from pt3kd_mm.testing import REPO, load_tool
from pt3kd_mm.testing import run_tool as run

TINY = osp.join(REPO, 'tests/configs/tiny_point_mae.py')


def data_options(root):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',  # the SVM probe's test split
            f'val_cfg.svm_train_dataloader.dataset.data_root={root}']  # and its train split


@pytest.mark.e2e
def test_train_resume_and_test(demo_root, tmp_path):
    work = str(tmp_path / 'work')
    py = sys.executable
    run([py, 'tools/train.py', TINY, '--work-dir', work, *data_options(demo_root),
         'train_cfg.max_epochs=1'])
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    iters_per_epoch = 18 // 4  # drop_last
    assert state['meta']['iter'] == iters_per_epoch

    out = run([py, 'tools/train.py', TINY, '--work-dir', work, '--resume',
               *data_options(demo_root), 'train_cfg.max_epochs=2'])
    assert 'resumed epoch: 1, iter: 4' in out
    state = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 2 * iters_per_epoch and state['meta']['epoch'] == 2

    out = run([py, 'tools/test.py', TINY, osp.join(work, 'epoch_2.pth'), '--work-dir',
               str(tmp_path / 'test'), *data_options(demo_root)])
    assert 'recon/chamfer_l2_x1000' in out


@pytest.mark.e2e
def test_two_process_training(demo_root, tmp_path):
    work = str(tmp_path / 'dist')
    out = run(['bash', 'tools/dist_train.sh', TINY, '2', '--work-dir', work,
               *data_options(demo_root), 'train_cfg.max_epochs=1',
               'train_dataloader.batch_size=2'], timeout=600,
              extra_env=dict(PYTHON=sys.executable, PORT='29533'))
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    # two ranks, each with half of the 18 clouds -> 9 // 2 = 4 iterations of batch 2
    assert 'Epoch(train) [1][4/4]' in out
    logs = glob.glob(osp.join(work, '*', '*.log'))
    assert logs and all('Distributed training: True' in open(f).read() for f in logs)
    # the SVM probe ran on both ranks (each encodes its shards; rank 0 fits, then broadcasts)
    assert 'svm/accuracy' in out


def test_user_config_inherits_and_overrides(tmp_path):
    user_cfg = tmp_path / 'my_pretrain.py'
    user_cfg.write_text(f"_base_ = ['{REPO}/configs/point_mae_pretrain.py']\n"
                        "model = dict(mask_ratio=0.7, backbone=dict(depth=6))\n")
    cfg = Config.fromfile(str(user_cfg))
    assert cfg.model.mask_ratio == 0.7 and cfg.model.backbone.depth == 6
    assert cfg.model.backbone.embed_dims == 384
    assert cfg.default_scope == 'mmdet3d'
    assert cfg.custom_imports == dict(imports=['pt3kd_mm'], allow_failed_imports=False)


def test_checkpoint_loader_refuses_foreign_objects(tmp_path):
    from mmengine.runner import CheckpointLoader
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'obj': Config(dict(a=1))}, path)  # an arbitrary object
    with pytest.raises(RuntimeError, match='cannot load checkpoint .*evil.pth'):
        CheckpointLoader.load_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match='nothere.pth does not exist'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nothere.pth'))
    # mmdet3d's segmentation datasets put ConfigDicts into meta['dataset_meta']: allowed
    from mmengine.config import ConfigDict
    torch.save({'state_dict': {}, 'meta': dict(dataset_meta=dict(
        label2cat=ConfigDict({0: 'wall'})))}, tmp_path / 'seg.pth')
    loaded = CheckpointLoader.load_checkpoint(str(tmp_path / 'seg.pth'))
    assert loaded['meta']['dataset_meta']['label2cat'][0] == 'wall'


def test_no_class_name_collides_with_openmmlab():
    import mmdet  # noqa: F401
    import mmpretrain.models  # noqa: F401
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as PRE_MODELS
    import pt3kd_mm
    from mmdet3d.registry import DATASETS, METRICS, MODELS, TRANSFORMS
    ours = {
        name
        for reg in (MODELS, DATASETS, TRANSFORMS, METRICS)
        for name, cls in reg.module_dict.items() if cls.__module__.startswith('pt3kd_mm')
    }
    assert {'PointMAE', 'PointPatchTransformer', 'ShapeNet55Dataset'} <= ours
    for other in (DET_MODELS, PRE_MODELS):
        assert not ours & set(other.module_dict)
    assert pt3kd_mm.__version__


def test_export_encoder_loads_strictly(tmp_path):
    from mmdet3d.registry import MODELS
    export_encoder = load_tool('tools/model_converters/export_encoder.py').export_encoder
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.with_cls_token = True
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1, 'iter': 4},
                'optimizer': {}}, ckpt)
    out = tmp_path / 'encoder.pth'
    n = export_encoder(str(ckpt), str(out))
    assert n == len(model.backbone.state_dict())
    exported = torch.load(out, weights_only=True)
    assert exported['meta']['epoch'] == 1 and 'optimizer' not in exported
    fresh = MODELS.build(dict(cfg.model.backbone))
    fresh.load_state_dict(exported['state_dict'], strict=True)
    # and through init_cfg, as a downstream config would
    via_cfg = MODELS.build(dict(cfg.model.backbone,
                                init_cfg=dict(type='Pretrained', checkpoint=str(out))))
    via_cfg.init_weights()
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(via_cfg.state_dict()[k], v), k
    with pytest.raises(KeyError, match="no weights under 'encoder.'"):
        export_encoder(str(ckpt), str(out), prefix='encoder.')


@pytest.mark.e2e
def test_act_stage1_train_and_resume(demo_root, tmp_path):
    import timm
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    ckpt = tmp_path / 'tiny_vit.pth'
    torch.save(vit.state_dict(), ckpt)
    cfg = osp.join(REPO, 'tests/configs/tiny_act_autoencoder.py')
    work = str(tmp_path / 'act1')
    opts = ['--cfg-options', f'train_dataloader.dataset.data_root={demo_root}',
            f'model.vit_blocks.checkpoint={ckpt}']
    out = run([sys.executable, 'tools/train.py', cfg, '--work-dir', work, *opts,
               'train_cfg.max_epochs=1'])
    assert 'gumbel_tau:' in out and 'kl_weight:' in out and 'loss_fine:' in out
    state = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    assert not any(k.startswith('vit.') for k in state['state_dict'])  # frozen 2D weights
    out = run([sys.executable, 'tools/train.py', cfg, '--work-dir', work, '--resume', *opts])
    assert 'resumed epoch: 1, iter: 4' in out and 'Epoch(train) [2][4/4]' in out
    # the exact continuation of the schedules after resume is tested in test_hooks.py


def _tiny_stage1_checkpoints(tmp_path):
    import timm
    from mmdet3d.registry import MODELS
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    vit_ckpt = tmp_path / 'tiny_vit.pth'
    torch.save(vit.state_dict(), vit_ckpt)
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_act_pretrain.py'))
    teacher_model = dict(cfg.model.teacher.model)
    teacher_model['vit_blocks'] = dict(teacher_model['vit_blocks'], checkpoint=str(vit_ckpt))
    stage1 = MODELS.build(teacher_model)
    stage1.init_weights()
    stage1_ckpt = tmp_path / 'stage1.pth'
    torch.save({'state_dict': stage1.state_dict(), 'meta': {}}, stage1_ckpt)
    return cfg, str(vit_ckpt), str(stage1_ckpt), stage1


def test_act_stage2_uses_student_groups_and_saves_no_teacher(tmp_path):
    from mmdet3d.registry import MODELS
    cfg, vit_ckpt, stage1_ckpt, stage1 = _tiny_stage1_checkpoints(tmp_path)
    cfg.model.teacher.checkpoint = stage1_ckpt
    cfg.model.teacher.model.vit_blocks.checkpoint = vit_ckpt
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.mask_ratio == 0.8 and model.backbone.with_cls_token
    assert len(model.neck.transformer.blocks) == 1  # tiny; the reference config has 2
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert not any(n.startswith('teacher') for n, _ in model.named_parameters())
    pts = torch.rand(2, 128, 3)
    loss = model(dict(points=pts), mode='loss')['loss']
    assert 0 <= loss.item() <= 2
    loss.backward()
    # the teacher encodes the student's groups: with hard Gumbel noise fixed, its features for
    # those groups equal the stage-1 model's own encoding of the cloud
    neigh, centers, _, _ = model.backbone.group(pts)
    torch.manual_seed(0)
    t = model.teachers['stage1'](neigh, centers, hard=True)['features']
    torch.manual_seed(0)
    s = stage1.eval().encode(pts, hard=True)["features"]
    torch.testing.assert_close(t, s)


@pytest.mark.e2e
def test_act_stage2_train_and_resume(demo_root, tmp_path):
    _, vit_ckpt, stage1_ckpt, _ = _tiny_stage1_checkpoints(tmp_path)
    cfg = osp.join(REPO, 'tests/configs/tiny_act_pretrain.py')
    work = str(tmp_path / 'act2')
    opts = ['--cfg-options', f'train_dataloader.dataset.data_root={demo_root}',
            f'model.teacher.checkpoint={stage1_ckpt}',
            f'model.teacher.model.vit_blocks.checkpoint={vit_ckpt}']
    run([sys.executable, 'tools/train.py', cfg, '--work-dir', work, *opts,
         'train_cfg.max_epochs=1'])
    state = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    assert not any(k.startswith('teacher') for k in state['state_dict'])
    assert state['meta']['iter'] == 24 // 4  # train + test of the demo data
    out = run([sys.executable, 'tools/train.py', cfg, '--work-dir', work, '--resume', *opts])
    assert 'resumed epoch: 1, iter: 6' in out and 'Epoch(train) [2][6/6]' in out
