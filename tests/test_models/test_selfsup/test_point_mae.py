import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmdet3d.registry import MODELS
import pt3kd_mm
from pt3kd_mm.models.utils import block_group_mask, random_group_mask

REPO = osp.dirname(osp.dirname(osp.abspath(pt3kd_mm.__file__)))


def tiny_model(**kw):
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_point_mae.py'))
    cfg.model.update(kw)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_random_mask_ratio_exact_and_random():
    torch.manual_seed(0)
    mask = random_group_mask(8, 64, 0.6)
    assert mask.shape == (8, 64) and mask.dtype == torch.bool
    assert (mask.sum(1) == 38).all()  # int(0.6 * 64)
    assert len({tuple(m.tolist()) for m in mask}) == 8  # different per cloud


def test_block_mask_is_the_nearest_groups():
    torch.manual_seed(0)
    centers = torch.rand(4, 64, 3)
    mask = block_group_mask(centers, 0.6)
    assert (mask.sum(1) == 38).all()
    for b in range(4):
        # every masked centre is nearer to the masked set's seed than every visible one:
        # equivalently the masked set is a ball around some centre
        found = False
        for s in range(64):
            d = (centers[b] - centers[b, s]).norm(dim=-1)
            if d[mask[b]].max() <= d[~mask[b]].min():
                found = True
                break
        assert found


def test_mask_ratio_validation():
    with pytest.raises(ValueError, match='mask_ratio'):
        random_group_mask(1, 10, 1.0)
    with pytest.raises(ValueError, match=r'mask_ratio must be in \(0, 1\), got 0.0'):
        random_group_mask(1, 10, 0.0)
    with pytest.raises(ValueError, match=r'mask_ratio=0.05 hides int\(0.05 \* 10\) = 0 of '
                       r'the 10 groups; raise it to at least 0.1'):
        block_group_mask(torch.rand(1, 10, 3), 0.05)


@pytest.mark.parametrize('ratio,message', [
    (0.0, r'model\.mask_ratio must be in \(0, 1\), got 0\.0'),
    (0.05, r'model\.mask_ratio=0\.05 hides int\(0\.05 \* 16\) = 0 of the 16 groups'),
])
def test_mask_ratio_without_hidden_groups_is_refused_at_build(ratio, message):
    """mask_ratio=0.0 (or too small for num_groups=16) failed deep in the Chamfer loss with
    "expected (B, N, D) and (B, M, D) point sets, got (32, 8, 3) and (0, 8, 3)"."""
    with pytest.raises(ValueError, match=message):
        tiny_model(mask_ratio=ratio)


def test_reconstruction_head_loss_on_hand_example():
    head = MODELS.build(dict(type='PointReconstructionHead', embed_dims=2, group_size=2))
    with torch.no_grad():
        head.proj.weight.zero_()
        # prediction for every token: points (0,0,0) and (1,0,0)
        head.proj.bias.copy_(torch.tensor([0., 0, 0, 1, 0, 0]))
    tokens = torch.zeros(1, 1, 2)
    target = torch.tensor([[[[0., 0, 0], [0, 2, 0]]]])
    # pred->target: 0, 1 ; target->pred: 0, 4  => CD-L2 = 0.5 + 2
    assert head.loss(tokens, target).item() == pytest.approx(2.5)


def test_loss_and_shapes_with_masking():
    model = tiny_model()
    losses = model(dict(points=torch.rand(2, 128, 3)), mode='loss')
    assert set(losses) == {'loss'} and losses['loss'].ndim == 0
    feats = model(dict(points=torch.rand(2, 128, 3)), mode='tensor')
    assert feats['tokens'].shape == (2, 16, 32)


@pytest.mark.parametrize('mask_type', ['rand', 'block'])
def test_overfit_one_batch(mask_type):
    torch.manual_seed(0)
    model = tiny_model(mask_type=mask_type)
    model.train()
    points = torch.rand(4, 128, 3) * 2 - 1
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for step in range(60):
        loss = model(dict(points=points), mode='loss')['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_predict_attaches_masked_chamfer():
    model = tiny_model().eval()
    samples = model(dict(points=torch.rand(3, 128, 3)), mode='predict')
    assert len(samples) == 3
    assert all(s.chamfer_l2 > 0 and s.chamfer_l1 > 0 for s in samples)


def test_no_weight_decay_on_norms_biases_tokens():
    cfg = Config.fromfile(osp.join(REPO, 'configs/point_mae_pretrain.py'))
    cfg.model.backbone.with_cls_token = True
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay_of = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay_of[names[id(p)]] = group['weight_decay']
    # the reference's add_weight_decay: 'token' in the name, 1-D, biases; positions decayed
    assert decay_of['backbone.cls_token'] == 0 and decay_of['backbone.cls_pos'] == 0.05
    assert decay_of['neck.mask_token'] == 0
    assert decay_of['backbone.norm.weight'] == 0
    assert decay_of['backbone.patch_embed.second_norm.weight'] == 0
    assert decay_of['backbone.transformer.blocks.0.attn.proj.bias'] == 0
    assert decay_of['backbone.transformer.blocks.0.attn.qkv.weight'] == 0.05
    assert decay_of['backbone.pos_embed.0.weight'] == 0.05
    assert cfg.optim_wrapper.optimizer.lr == 1e-3 and cfg.train_cfg.max_epochs == 301
    assert cfg.train_dataloader.batch_size == 128
