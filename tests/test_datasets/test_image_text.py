"""Image / text inputs of ReCon pre-training, the ModelNet40 dataset and their configs."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from PIL import Image

from mmdet3d.registry import DATASETS, MODELS, TRANSFORMS
import pt3kd_mm
from pt3kd_mm.datasets.transforms import RECON_TEMPLATES, recon_prompts

REPO = osp.dirname(osp.dirname(osp.abspath(pt3kd_mm.__file__)))
RECON_DATA_CFG = osp.join(REPO, 'configs', '_base_', 'datasets', 'shapenet55_recon.py')
ZEROSHOT_DATA_CFG = osp.join(REPO, 'configs', 'recon_zeroshot_modelnet40.py')


def _first_render(demo_root):
    ds = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=demo_root, pipeline=[]))
    return ds.get_data_info(0)


def _recon_cfg(num_points=256):
    cfg = Config.fromfile(RECON_DATA_CFG)
    # the demo clouds have 512 points, the config samples 1024
    cfg.train_dataloader.dataset.pipeline[1].num_points = num_points
    return cfg


# ---------------------------------------------------------------- LoadRenderedImage
def test_load_rendered_image_is_rgb(demo_root):
    path = _first_render(demo_root)['img_path']
    res = TRANSFORMS.build(dict(type='LoadRenderedImage'))(dict(img_path=path))
    img = res['img']
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    assert res['img_shape'] == (224, 224) and res['ori_shape'] == (224, 224)
    bgr = cv2.imread(path)
    np.testing.assert_array_equal(img, bgr[..., ::-1])
    np.testing.assert_array_equal(img, np.asarray(Image.open(path).convert('RGB')))
    # the demo renders shade (90, 140, 200): blue above red on the object's pixels
    obj = (img != 255).any(-1)
    assert obj.sum() > 100 and (img[obj][:, 2] > img[obj][:, 0]).all()
    res_bgr = TRANSFORMS.build(dict(type='LoadRenderedImage', to_rgb=False))(
        dict(img_path=path))
    np.testing.assert_array_equal(res_bgr['img'], bgr)


def test_load_rendered_image_errors_name_the_file(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadRenderedImage'))
    missing = str(tmp_path / 'shapenet_img' / '02691156-abc.png')
    with pytest.raises(FileNotFoundError,
                       match=r'02691156-abc.png does not exist.*shapenet_img/<synset>-<id>.png'):
        load(dict(img_path=missing))
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='broken.png cannot be decoded'):
        load(dict(img_path=str(tmp_path / 'broken.png')))


# ---------------------------------------------------------------- prompts
def test_recon_prompts():
    prompts = recon_prompts('chair')
    assert len(prompts) == 60 and len(set(prompts)) == 60 and len(RECON_TEMPLATES) == 60
    assert prompts[0] == 'chair.'
    assert prompts[7] == 'A 3D model of a chair.'
    assert prompts[21] == 'A chair with white background.'
    assert prompts[59] == 'A 3D rendering image of a chair with black context.'


def test_random_text_prompt():
    fixed = TRANSFORMS.build(dict(type='RandomTextPrompt', template_index=55))
    assert fixed(dict(category_name='airplane'))['text'] == \
        'A 3D rendering model of a airplane with black context.'
    custom = TRANSFORMS.build(dict(type='RandomTextPrompt', templates=['a photo of {}'],
                                   name_key='name', out_key='caption'))
    assert custom(dict(name='lamp'))['caption'] == 'a photo of lamp'
    rand = TRANSFORMS.build(dict(type='RandomTextPrompt'))
    np.random.seed(0)
    texts = {rand(dict(category_name='lamp'))['text'] for _ in range(50)}
    assert texts <= set(recon_prompts('lamp')) and len(texts) > 10
    assert fixed.all_prompts('cup') == ['A 3D rendering model of a cup with black context.']
    assert rand.all_prompts('cup') == recon_prompts('cup')
    with pytest.raises(ValueError, match='template_index 60 is out of range'):
        TRANSFORMS.build(dict(type='RandomTextPrompt', template_index=60))
    with pytest.raises(KeyError, match="no 'category_name'"):
        rand(dict(name='lamp'))


# ---------------------------------------------------------------- configs and batching
def test_recon_train_pipeline(demo_root):
    cfg = _recon_cfg()
    ds = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=demo_root))
    np.random.seed(0)
    for idx in (0, 5, 17):
        item = ds[idx]
        img = item['inputs']['img']
        # BGR 0-255: the image teachers normalise with their own statistics
        assert img.shape == (3, 224, 224) and img.dtype == torch.uint8
        assert img.float().std() > 5  # not a constant image
        assert item['inputs']['points'].shape == (256, 3)
        sample = item['data_samples']
        assert sample.category_name == ds.metainfo['classes'][sample.category]
        assert sample.text in recon_prompts(sample.category_name)
        assert sample.img_path.endswith('.png')
    # the augmentation is random: the same shape gives different views
    a, b = ds[0]['inputs']['img'], ds[0]['inputs']['img']
    assert not torch.equal(a, b)


def test_augmentation_free_image_pipeline(demo_root):
    cfg = Config.fromfile(RECON_DATA_CFG)
    pipeline = Compose(cfg.img_test_pipeline + [dict(type='Pack3DDetInputs', keys=['img'])])
    info = _first_render(demo_root)
    a = pipeline(dict(info))['inputs']['img']
    b = pipeline(dict(info))['inputs']['img']
    assert a.shape == (3, 224, 224) and torch.equal(a, b)
    # the demo views are 224 x 224: resize + centre crop keep them as they are, in BGR as the
    # reference reads them (cv2.imread) and as the image teachers are told (channel_order)
    rgb = np.asarray(Image.open(info['img_path']).convert('RGB'))
    np.testing.assert_array_equal(a.numpy(), rgb[..., ::-1].transpose(2, 0, 1))
    np.testing.assert_array_equal(a.numpy(), cv2.imread(info['img_path']).transpose(2, 0, 1))


def test_preprocessor_stacks_images(demo_root):
    cfg = _recon_cfg()
    ds = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=demo_root))
    pre = MODELS.build(dict(type='PointCloudPreprocessor', num_channels=3))
    batch = pseudo_collate([ds[0], ds[1], ds[2]])
    out = pre(batch, training=True)
    img = out['inputs']['img']
    assert img.shape == (3, 3, 224, 224) and img.dtype == torch.float32
    torch.testing.assert_close(img[1], batch['inputs']['img'][1].float())
    assert out['inputs']['points'].shape == (3, 256, 3)
    batch['inputs']['img'][1] = batch['inputs']['img'][1][:, :200]
    with pytest.raises(ValueError, match='images of one batch must have the same shape'):
        pre(batch)


# ---------------------------------------------------------------- ModelNet40
def test_modelnet40_dataset(modelnet_root):
    classes = ('sphere', 'cube', 'cylinder', 'cone', 'torus', 'table')
    train = DATASETS.build(dict(type='ModelNet40PointDataset', data_root=modelnet_root,
                                split='train', pipeline=[]))
    test = DATASETS.build(dict(type='ModelNet40PointDataset', data_root=modelnet_root,
                               split='test', pipeline=[dict(type='LoadPointCloudNpy')]))
    assert len(train) == 18 and len(test) == 12
    assert train.metainfo['classes'] == classes == test.metainfo['classes']
    assert [train.get_data_info(i)['category'] for i in range(18)] == \
        [c for c in range(6) for _ in range(3)]
    info = test.get_data_info(2)
    assert info['category_name'] == 'cube' and info['category'] == 1
    assert info['pc_path'] == osp.join(modelnet_root, 'cube', 'cube_0004.txt')
    pts = test[2]['points']
    assert pts.shape == (1100, 3) and pts.dtype == np.float32
    raw = np.loadtxt(info['pc_path'], delimiter=',')
    assert raw.shape == (1100, 6)
    np.testing.assert_allclose(pts, raw[:, :3], rtol=1e-6)
    with_normals = TRANSFORMS.build(dict(type='LoadPointCloudNpy', use_dims=range(6)))(
        dict(pc_path=info['pc_path']))['points']
    np.testing.assert_allclose(np.linalg.norm(with_normals[:, 3:], axis=1), 1, atol=1e-4)


def test_modelnet40_zeroshot_config(modelnet_root):
    cfg = Config.fromfile(ZEROSHOT_DATA_CFG)
    ds = DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=modelnet_root))
    item = ds[3]  # 2 test shapes per class: the second cube
    pts = item['inputs']['points']
    assert pts.shape == (1024, 3)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1).max(), 1.0, rtol=1e-5)
    assert item['data_samples'].category == 1 and item['data_samples'].category_name == 'cube'


def test_modelnet_class_names_with_underscores(tmp_path):
    (tmp_path / 'modelnet10_shape_names.txt').write_text('bathtub\nnight_stand\n')
    (tmp_path / 'modelnet10_train.txt').write_text('night_stand_0001\nbathtub_0002\n')
    ds = DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(tmp_path),
                             num_categories=10, pipeline=[]))
    assert [ds.get_data_info(i)['category'] for i in range(2)] == [1, 0]
    assert ds.get_data_info(0)['pc_path'].endswith('night_stand/night_stand_0001.txt')
    with pytest.raises(FileNotFoundError, match=r'split file .*modelnet10_test.txt not found'):
        DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(tmp_path),
                            split='test', num_categories=10))
    (tmp_path / 'modelnet10_test.txt').write_text('chair_0001\n')
    with pytest.raises(KeyError, match="class 'chair' of chair_0001"):
        DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(tmp_path),
                            split='test', num_categories=10))


def test_modelnet_missing_files_named(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'shape names file .*modelnet40_shape_names.txt not found'):
        DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(tmp_path)))
    (tmp_path / 'modelnet40_shape_names.txt').write_text('airplane\n')
    with pytest.raises(FileNotFoundError, match=r'split file .*modelnet40_train.txt not found'):
        DATASETS.build(dict(type='ModelNet40PointDataset', data_root=str(tmp_path)))


def test_load_txt_cloud_errors(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadPointCloudNpy'))
    with pytest.raises(FileNotFoundError, match='airplane_0001.txt does not exist'):
        load(dict(pc_path=str(tmp_path / 'airplane_0001.txt')))
    (tmp_path / 'bad.txt').write_text('0.1,0.2,0.3\n0.1,oops,0.3\n')
    with pytest.raises(ValueError, match='bad.txt is unreadable as comma-separated text'):
        load(dict(pc_path=str(tmp_path / 'bad.txt')))
    (tmp_path / 'two.txt').write_text('0.1,0.2\n0.3,0.4\n')
    with pytest.raises(ValueError, match=r'two.txt has shape \(2, 2\)'):
        load(dict(pc_path=str(tmp_path / 'two.txt')))
    (tmp_path / 'nan.txt').write_text('0.1,0.2,0.3\nnan,0.2,0.3\n')
    with pytest.raises(ValueError, match='nan.txt has 1 points with NaN'):
        load(dict(pc_path=str(tmp_path / 'nan.txt')))
