import math

import pytest
import timm
import torch

from mmdet3d.registry import MODELS
import pt3kd_mm
from pt3kd_mm.models.selfsup import kl_to_uniform

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(scope='module')
def vit_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    path = tmp_path_factory.mktemp('vit') / 'tiny_vit.pth'
    torch.save(vit.state_dict(), path)
    return str(path)


def tiny_autoencoder(ckpt, **kw):
    cfg = dict(type='ACTAutoencoder', embed_dims=24, num_groups=16, group_size=8,
               num_tokens=64, num_prompts=4,
               vit_blocks=dict(type='FrozenViTBlocks', checkpoint=ckpt, source='timm',
                               arch=TINY_ARCH))
    cfg.update(kw)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_kl_to_uniform_hand_example():
    uniform = torch.zeros(2, 5, 4)
    assert kl_to_uniform(uniform).item() == pytest.approx(0.0, abs=1e-6)
    # every group certain of code 0 -> mean distribution one-hot -> KL = log(4)
    peaked = torch.full((1, 3, 4), -1e4)
    peaked[..., 0] = 0
    assert kl_to_uniform(peaked).item() == pytest.approx(math.log(4), rel=1e-5)
    # mean of (1/2, 1/2, 0, 0): KL = log 4 - log 2
    half = torch.full((1, 2, 4), -1e4)
    half[0, 0, 0] = half[0, 1, 1] = 0
    assert kl_to_uniform(half).item() == pytest.approx(math.log(2), rel=1e-5)


def test_shapes_losses_and_trainable_parts(vit_ckpt):
    model = tiny_autoencoder(vit_ckpt)
    pts = torch.rand(2, 128, 3)
    feats = model(dict(points=pts), mode='tensor')
    assert feats.shape == (2, 16, 24)
    losses = model(dict(points=pts), mode='loss')
    assert set(losses) == {'loss_coarse', 'loss_fine', 'loss_kl'}
    assert losses['loss_kl'].item() == 0.0  # kl_weight 0 at the start
    model.kl_weight = 0.1
    losses = model(dict(points=pts), mode='loss')
    assert losses['loss_kl'].item() > 0
    sum(losses.values()).backward()
    names = {n for n, p in model.named_parameters() if p.grad is not None}
    for part in ('prompts', 'prompt_pos', 'input_proj.weight', 'output_proj.weight',
                 'codebook', 'patch_embed.second_fc2.weight', 'dgcnn_1.input_trans.weight',
                 'dgcnn_2.out_layer.0.weight', 'decoder.fold.6.weight', 'pos_embed.0.weight'):
        assert part in names, part
    assert not any(n.startswith('vit') for n, _ in model.named_parameters())
    assert all(p.grad is None for p in model.vit.network.parameters())
    assert model.prompts.shape == (2, 4, 32)  # deep prompts: one set per 2D block


def test_frozen_blocks_bit_identical_prompts_change(vit_ckpt):
    torch.manual_seed(0)
    model = tiny_autoencoder(vit_ckpt)
    model.train()
    assert not model.vit.network.training
    frozen = {k: v.clone() for k, v in model.vit.network.state_dict().items()}
    prompts = model.prompts.detach().clone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    pts = torch.rand(4, 128, 3)
    for _ in range(15):
        loss = sum(model(dict(points=pts), mode='loss').values())
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(frozen[k], v) for k, v in model.vit.network.state_dict().items())
    assert not torch.equal(prompts, model.prompts.detach())
    assert loss.item() < first
    assert not any(k.startswith('vit') for k in model.state_dict())


def test_reference_config_and_missing_2d_checkpoint():
    import os.path as osp

    from mmengine.config import Config
    repo = osp.dirname(osp.dirname(osp.abspath(pt3kd_mm.__file__)))
    cfg = Config.fromfile(osp.join(repo, 'configs/act_autoencoder.py'))
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.optim_wrapper.optimizer.lr == 5e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 5e-4
    assert cfg.optim_wrapper.clip_grad.max_norm == 10.0
    assert cfg.train_cfg.max_epochs == 300
    hooks = {h['attr']: h for h in cfg.custom_hooks}
    assert hooks['gumbel_tau']['end'] == 0.0625 and hooks['gumbel_tau']['num_iters'] == 100000
    assert hooks['kl_weight']['begin_iter'] == 10000 and hooks['kl_weight']['end'] == 0.1
    with pytest.raises(FileNotFoundError, match=r'vit_base_patch16_384\.pth.*does not exist\. '
                       r'Save the 2D model once'):
        MODELS.build(cfg.model)
