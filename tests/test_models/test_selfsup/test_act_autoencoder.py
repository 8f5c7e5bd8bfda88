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


def _softmax(row):
    exp = [math.exp(v) for v in row]
    return [e / sum(exp) for e in exp]


def test_kl_to_uniform_is_kl_of_uniform_to_the_mean_code_distribution():
    """The reference's F.kl_div(log q_mean, log u, 'batchmean', log_target=True) =
    KL(u || q_mean), by hand: sum_k 1/K (log 1/K - log q_k), averaged over the clouds."""
    logits = [[[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 0.0, 3.0], [0.0, -2.0, 1.0, 0.0]],
              [[5.0, 0.0, 0.0, 0.0], [4.0, 1.0, 0.0, 0.0], [4.0, 0.0, 1.0, 0.0]]]
    forward, backward = [], []
    for cloud in logits:
        probs = [_softmax(row) for row in cloud]
        q = [sum(p[k] for p in probs) / len(probs) for k in range(4)]
        forward.append(sum(0.25 * (math.log(0.25) - math.log(qk)) for qk in q))
        backward.append(sum(qk * (math.log(qk) - math.log(0.25)) for qk in q))
    expected, old_direction = sum(forward) / 2, sum(backward) / 2
    assert abs(expected - old_direction) > 0.2  # the two directions differ here
    value = kl_to_uniform(torch.tensor(logits)).item()
    assert value == pytest.approx(expected, rel=1e-5)
    assert kl_to_uniform(torch.zeros(2, 5, 4)).item() == pytest.approx(0.0, abs=1e-6)


def test_prompt_layout_and_dropout(vit_ckpt):
    """As the reference: shallow prompt tokens / positions (1, P, W); deep ones (D - 1, P, W),
    one position set per block; dropout on the prompt tokens only."""
    model = tiny_autoencoder(vit_ckpt)
    assert model.prompt_tokens.shape == model.prompt_pos.shape == (1, 4, 32)
    assert model.deep_prompt_tokens.shape == model.deep_prompt_pos.shape == (1, 4, 32)
    assert model.prompt_dropout.p == 0.1
    assert not hasattr(tiny_autoencoder(vit_ckpt, deep_prompts=False), 'deep_prompt_pos')
    x, centers = torch.randn(2, 16, 32), torch.rand(2, 16, 3)
    model.prompt_dropout.p = 1.0  # drops every prompt token, never a position
    model.train()
    dropped = model.prompted_blocks(x, centers)
    model.eval()
    with torch.no_grad():
        model.prompt_tokens.zero_()
        model.deep_prompt_tokens.zero_()
    torch.testing.assert_close(dropped, model.prompted_blocks(x, centers))
    with torch.no_grad():  # each block reads its own deep positions
        model.deep_prompt_pos.add_(torch.randn_like(model.deep_prompt_pos))
    assert not torch.allclose(dropped, model.prompted_blocks(x, centers))


def test_reads_the_earlier_prompt_layout(vit_ckpt):
    model = tiny_autoencoder(vit_ckpt)
    state = model.state_dict()
    for key in ('prompt_tokens', 'deep_prompt_tokens', 'deep_prompt_pos'):
        state.pop(key)
    state['prompts'] = torch.randn(2, 4, 32)  # one set per block, one shared position
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.prompt_tokens, state['prompts'][:1])
    assert torch.equal(model.deep_prompt_tokens, state['prompts'][1:])
    assert torch.equal(model.deep_prompt_pos[0], state['prompt_pos'][0])


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
    for part in ('prompt_tokens', 'prompt_pos', 'deep_prompt_tokens', 'deep_prompt_pos',
                 'input_proj.weight', 'output_proj.weight',
                 'codebook', 'patch_embed.second_fc2.weight', 'dgcnn_1.input_trans.weight',
                 'dgcnn_2.out_layer.0.weight', 'decoder.fold.6.weight', 'pos_embed.0.weight'):
        assert part in names, part
    assert not any(n.startswith('vit') for n, _ in model.named_parameters())
    assert all(p.grad is None for p in model.vit.network.parameters())


def test_frozen_blocks_bit_identical_prompts_change(vit_ckpt):
    torch.manual_seed(0)
    model = tiny_autoencoder(vit_ckpt)
    model.train()
    assert not model.vit.network.training
    frozen = {k: v.clone() for k, v in model.vit.network.state_dict().items()}
    prompts = model.deep_prompt_tokens.detach().clone()
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
    assert not torch.equal(prompts, model.deep_prompt_tokens.detach())
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
    assert 'clip_grad' not in cfg.optim_wrapper  # the reference's runner clips nothing
    pipeline = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert pipeline == ['LoadPointCloudNpy', 'PointSubsample', 'NormalizeToUnitSphere',
                        'Pack3DDetInputs']  # no augmentation
    assert cfg.train_cfg.max_epochs == 301  # the reference loop's epochs 0..300
    hooks = {h['attr']: h for h in cfg.custom_hooks}
    assert hooks['gumbel_tau']['end'] == 0.0625 and hooks['gumbel_tau']['num_iters'] == 100000
    assert hooks['kl_weight']['begin_iter'] == 10000 and hooks['kl_weight']['end'] == 0.1
    with pytest.raises(FileNotFoundError, match=r'vit_base_patch16_384\.pth.*does not exist\. '
                       r'Save the 2D model once'):
        MODELS.build(cfg.model)


def test_optimizer_decays_what_the_reference_decays(vit_ckpt):
    """The reference's add_weight_decay: no decay on 1-D parameters, biases and names holding
    'token'; everything else (prompt positions, codebook, weights) decayed."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    repo = osp.dirname(osp.dirname(osp.abspath(pt3kd_mm.__file__)))
    cfg = Config.fromfile(osp.join(repo, 'configs/act_autoencoder.py'))
    model = tiny_autoencoder(vit_ckpt)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in optim.optimizer.param_groups for p in g['params']}
    named = dict(model.named_parameters())
    assert len(decay) == len(named)  # every trainable parameter, no frozen 2D weight
    for name, param in named.items():
        reference = 0.0 if (param.dim() == 1 or name.endswith('.bias') or 'token' in name) \
            else 5e-4
        assert decay[id(param)] == reference, name
    for name in ('prompt_tokens', 'deep_prompt_tokens', 'input_proj.bias',
                 'patch_embed.first_conv.1.weight', 'dgcnn_1.edge_layers.0.1.weight',
                 'decoder.fold.1.weight'):
        assert decay[id(named[name])] == 0.0, name
    for name in ('prompt_pos', 'deep_prompt_pos', 'codebook', 'input_proj.weight',
                 'dgcnn_2.out_layer.0.weight'):
        assert decay[id(named[name])] == 5e-4, name
