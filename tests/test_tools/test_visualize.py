"""tools/visualize.py end to end on the tiny configs with randomly initialised weights saved to
a checkpoint: each mode writes a PNG of the asked size and a self-contained HTML page per
sample, named after the sample, with the mode picked from the model when not given."""
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO, load_tool, run_tool


def tiny(name):
    return osp.join(REPO, 'tests/configs', name)


def random_checkpoint(cfg, path, **options):
    """The config's model with random weights, saved as a checkpoint."""
    cfg = Config.fromfile(cfg)
    cfg.merge_from_dict(options)
    if cfg.get('custom_imports'):
        import importlib
        for module in cfg.custom_imports['imports']:
            importlib.import_module(module)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


@pytest.fixture(scope='module')
def visualize():
    return load_tool('tools/visualize.py').main


@pytest.fixture(scope='module')
def rooms(tmp_path_factory):
    from pt3kd_mm.testing import create_scannet_demo
    root = str(tmp_path_factory.mktemp('scannet_vis'))
    create_scannet_demo(root, num_scenes=2, points_per_scene=8000, seed=0)
    return root + '/'


def check_written(paths, show_dir, pattern, size, num):
    names = sorted(os.listdir(show_dir))
    assert sorted(osp.basename(p) for p in paths) == names
    assert len(names) == 2 * num
    for name in names:
        assert re.fullmatch(pattern, name), name
        path = osp.join(show_dir, name)
        assert osp.getsize(path) > 0
        if name.endswith('.png'):
            with Image.open(path) as img:
                assert img.size == size
                assert np.asarray(img.convert('L')).min() < 200
        else:
            html = open(path, encoding='utf-8').read()
            assert 'Plotly.newPlot' in html and not re.search(r'<script[^>]*\bsrc=', html)
    return [open(osp.join(show_dir, n), encoding='utf-8').read() for n in names
            if n.endswith('.html')]


@pytest.mark.e2e
def test_point_mae_reconstruction_and_groups(visualize, demo_root, tmp_path):
    ckpt = random_checkpoint(tiny('tiny_point_mae.py'), tmp_path / 'mae.pth')
    common = ['--work-dir', str(tmp_path / 'work'), '--num-samples', '2',
              '--cfg-options', f'test_dataloader.dataset.data_root={demo_root}']
    show = str(tmp_path / 'rec')
    paths = visualize([tiny('tiny_point_mae.py'), ckpt, '--show-dir', show, *common])
    pages = check_written(paths, show, r'00[01]_\d+-\w+_reconstruction\.(png|html)',
                          (1200, 400), 2)
    assert all('reconstruction: visible + predicted' in p and 'PointMAE, mask ratio 0.6' in p
               for p in pages)
    show = str(tmp_path / 'groups')
    paths = visualize([tiny('tiny_point_mae.py'), ckpt, '--show-dir', show, '--mode', 'groups',
                       '--size', '300', '200', '--format', 'png', *common])
    assert sorted(os.listdir(show)) == sorted(osp.basename(p) for p in paths)
    assert len(paths) == 2 and all(p.endswith('_groups.png') for p in paths)
    for path in paths:
        with Image.open(path) as img:
            assert img.size == (300, 200)


@pytest.mark.e2e
def test_act_shows_groups_and_mask_only(visualize, demo_root, tmp_path):
    import timm
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    vit_ckpt = str(tmp_path / 'tiny_vit.pth')
    torch.save(vit.state_dict(), vit_ckpt)
    cfg = Config.fromfile(tiny('tiny_act_pretrain.py'))
    stage1 = MODELS.build(dict(cfg.model.teacher.model, vit_blocks=dict(
        cfg.model.teacher.model.vit_blocks, checkpoint=vit_ckpt)))
    stage1.init_weights()
    stage1_ckpt = str(tmp_path / 'stage1.pth')
    torch.save({'state_dict': stage1.state_dict(), 'meta': {}}, stage1_ckpt)
    teacher = {'model.teacher.checkpoint': stage1_ckpt,
               'model.teacher.model.vit_blocks.checkpoint': vit_ckpt}
    ckpt = random_checkpoint(tiny('tiny_act_pretrain.py'), tmp_path / 'act.pth', **teacher)
    show = str(tmp_path / 'act')
    # no test / val dataloader in the ACT pre-training config: the train split is drawn
    paths = visualize([tiny('tiny_act_pretrain.py'), ckpt, '--show-dir', show,
                       '--num-samples', '1', '--work-dir', str(tmp_path / 'work'),
                       '--cfg-options', f'train_dataloader.dataset.data_root={demo_root}',
                       *[f'{k}={v}' for k, v in teacher.items()]])
    (page, ) = check_written(paths, show, r'000_\d+-\w+_reconstruction\.(png|html)',
                             (1200, 400), 1)
    assert 'not points: groups and mask only' in page
    assert 'reconstruction: visible + predicted' not in page


@pytest.mark.e2e
def test_recon_reconstructs_points(visualize, demo_root, tmp_path):
    ckpt = random_checkpoint(tiny('tiny_recon.py'), tmp_path / 'recon.pth')
    show = str(tmp_path / 'recon')
    paths = visualize([tiny('tiny_recon.py'), ckpt, '--show-dir', show, '--num-samples', '1',
                       '--format', 'html', '--work-dir', str(tmp_path / 'work'),
                       '--cfg-options', f'test_dataloader.dataset.data_root={demo_root}'])
    assert len(paths) == 1 and paths[0].endswith('_reconstruction.html')
    page = open(paths[0], encoding='utf-8').read()
    assert 'ReCon, mask ratio 0.6' in page and 'reconstruction: visible + predicted' in page


@pytest.mark.e2e
def test_threedetr_detection(visualize, rooms, tmp_path):
    ckpt = random_checkpoint(tiny('tiny_threedetr.py'), tmp_path / 'detr.pth')
    show = str(tmp_path / 'det')
    paths = visualize([tiny('tiny_threedetr.py'), ckpt, '--show-dir', show,
                       '--num-samples', '1', '--score-thr', '0', '--max-boxes', '5',
                       '--work-dir', str(tmp_path / 'work'),
                       '--cfg-options', f'test_dataloader.dataset.data_root={rooms}'])
    (page, ) = check_written(paths, show, r'000_scene0000_00_detection\.(png|html)',
                             (800, 400), 1)
    assert 'ground truth' in page and 'prediction (5 boxes)' in page
    assert re.search(r'"(cabinet|bed|chair|sofa|table|bookshelf)"', page)  # a GT class
    assert re.search(r'\w+ 0\.\d\d"', page)  # a predicted box labelled with its score


@pytest.mark.e2e
def test_scene_segmentation_cli(rooms, tmp_path):
    """As a command line (a separate, headless process: no DISPLAY)."""
    ckpt = random_checkpoint(tiny('tiny_sceneseg.py'), tmp_path / 'seg.pth')
    show = str(tmp_path / 'seg')
    out = run_tool(['tools/visualize.py', tiny('tiny_sceneseg.py'), ckpt, '--show-dir', show,
                    '--num-samples', '1', '--size', '640', '320',
                    '--work-dir', str(tmp_path / 'work'),
                    '--cfg-options', f'test_dataloader.dataset.data_root={rooms}'],
                   extra_env=dict(DISPLAY='', MPLBACKEND=''))
    assert 'mode segmentation' in out
    paths = [line.split(' ', 1)[1] for line in out.splitlines() if line.startswith('wrote ')]
    (page, ) = check_written(paths, show, r'000_scene0000_00_segmentation\.(png|html)',
                             (640, 320), 1)
    assert '"wall"' in page and 'ground truth' in page and 'prediction' in page
