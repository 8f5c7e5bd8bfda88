"""The part-segmentation configs parse, build the reference's widths and carry its recipe."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO

CONFIGS = {
    'point_mae': 'configs/part_segmentation/point_mae_partseg_shapenetpart.py',
    'act': 'configs/part_segmentation/act_partseg_shapenetpart.py',
    'recon': 'configs/part_segmentation/recon_partseg_shapenetpart.py',
}


def load(name):
    return Config.fromfile(osp.join(REPO, CONFIGS[name]))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_builds_with_the_reference_widths(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmdet3d' and cfg.custom_imports['imports'] == ['pt3kd_mm']
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    assert f'{name}_pretrain' in cfg.model.backbone.init_cfg.checkpoint
    model = MODELS.build(cfg.model)
    backbone, head = model.backbone, model.decode_head
    assert (backbone.num_groups, backbone.group_size, backbone.out_indices) == (128, 32,
                                                                                (3, 7, 11))
    assert head.propagation.mlp_convs[0].in_channels == 1152 + 3
    assert [c.out_channels for c in head.propagation.mlp_convs] == [1536, 1024]
    # 1024 + 2 x 1152 + 64 (+ 384 for ReCon's query feature), as the reference's convs1
    assert head.conv1.in_channels == (3776 if name == 'recon' else 3392)
    assert (head.conv1.out_channels, head.conv2.out_channels, head.conv_seg.out_channels) == \
        (512, 256, 50)
    assert head.dropout.p == 0.5 and head.label_conv[0].out_channels == 64
    assert cfg.train_dataloader.batch_size == 16 and cfg.train_dataloader.dataset.split == \
        'trainval' and cfg.test_dataloader.dataset.split == 'test'
    assert cfg.train_cfg.max_epochs == 300 and cfg.param_scheduler[0].t_initial == 300
    assert cfg.optim_wrapper.type == 'DoubleStepOptimWrapper'
    assert cfg.optim_wrapper.clip_grad.max_norm == 10


@pytest.mark.parametrize('name', ['point_mae', 'recon'])
def test_learning_rates_and_decay(name):
    cfg = load(name)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    group_of = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    params = dict(model.named_parameters())

    def lr_wd(key):
        g = group_of[id(params[key])]
        return g['lr'], g['weight_decay']

    base = 1e-4 if name == 'recon' else 2e-4
    assert lr_wd('backbone.transformer.blocks.0.attn.qkv.weight') == (base, 0.05)
    assert lr_wd('backbone.norm.weight') == (base, 0.0)
    assert lr_wd('decode_head.bn1.weight') == (base, 0.0)
    assert lr_wd('decode_head.propagation.mlp_bns.0.bias') == (base, 0.0)
    if name == 'recon':
        # ReCon: 'conv' in the name and not the encoder's -> 10x lr, decay 0.05 on all of them
        for key in ('decode_head.conv1.weight', 'decode_head.conv1.bias',
                    'decode_head.conv_seg.bias', 'decode_head.label_conv.0.weight',
                    'decode_head.label_conv.1.weight', 'decode_head.propagation.mlp_convs.1.bias'):
            assert lr_wd(key) == pytest.approx((1e-3, 0.05)), key
        assert lr_wd('backbone.query_tokens') == (base, 0.0)
        assert lr_wd('backbone.patch_embed.first_conv.0.weight')[0] == base
    else:
        assert lr_wd('decode_head.conv1.weight') == (base, 0.05)
        assert lr_wd('decode_head.conv1.bias') == (base, 0.0)
