"""ACT stage 2: the frozen teacher in train mode (the reference) or eval mode."""
import os.path as osp

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO


@pytest.fixture(scope='module')
def act_cfg(tmp_path_factory):
    """tests/configs/tiny_act_pretrain.py with a tiny random ViT and stage-1 checkpoint."""
    tmp = tmp_path_factory.mktemp('act')
    torch.manual_seed(0)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    torch.save(vit.state_dict(), tmp / 'vit.pth')
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/tiny_act_pretrain.py'))
    cfg.model.teacher.model.vit_blocks.checkpoint = str(tmp / 'vit.pth')
    stage1 = MODELS.build(cfg.model.teacher.model)
    stage1.init_weights()
    torch.save({'state_dict': stage1.state_dict()}, tmp / 'stage1.pth')
    cfg.model.teacher.checkpoint = str(tmp / 'stage1.pth')
    return cfg


def build(cfg, **kw):
    model = MODELS.build(dict(cfg.model, **kw))
    model.init_weights()
    return model


def test_teacher_mode_option(act_cfg):
    assert build(act_cfg).teacher_mode == 'train'  # the reference's default
    with pytest.raises(ValueError, match="teacher_mode must be 'train' or 'eval'"):
        build(act_cfg, teacher_mode='frozen')


def test_train_mode_uses_batch_statistics(act_cfg):
    """Train mode normalises with each BatchNorm's batch statistics: its targets equal the eval
    targets of a teacher whose running statistics ARE those batch statistics."""
    model = build(act_cfg)
    teacher = model.teachers['stage1']
    network = teacher.network
    network.prompt_dropout.p = 0.0  # compare the BatchNorm effect alone
    norms = {n: m for n, m in network.named_modules() if isinstance(m, _BatchNorm)}
    assert norms
    seen, dropout_training = {}, []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, i[0].detach()))
             for n, m in norms.items()]
    hooks.append(network.prompt_dropout.register_forward_pre_hook(
        lambda m, i: dropout_training.append(m.training)))
    neighborhood, centers, _, _ = model.backbone.group(torch.rand(3, 128, 3))
    torch.manual_seed(1)
    train_target = model.teacher_target(neighborhood, centers)
    for h in hooks:
        h.remove()
    assert dropout_training and all(dropout_training)  # prompt dropout active
    assert not network.training  # eval again after the call
    used = [n for n in norms if n in seen]  # the decoder's norms are not on the target's path
    assert 'patch_embed.first_conv.1' in used and 'patch_embed.second_norm' in used

    model.teacher_mode = 'eval'
    torch.manual_seed(1)
    eval_target = model.teacher_target(neighborhood, centers)
    assert (eval_target - train_target).abs().max() > 1e-2  # running stats 0 / 1 differ
    with torch.no_grad():
        for n in used:
            x = seen[n].reshape(-1, seen[n].shape[-1])
            norms[n].running_mean.copy_(x.mean(0))
            norms[n].running_var.copy_(x.var(0, unbiased=False))
    torch.manual_seed(1)
    torch.testing.assert_close(model.teacher_target(neighborhood, centers), train_target,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_teacher_bit_identical_after_a_step(act_cfg, mode):
    model = build(act_cfg, teacher_mode=mode)
    model.train()
    network = model.teachers['stage1'].network
    before = {k: v.clone() for k, v in network.state_dict().items()}
    assert any(k.endswith('running_mean') for k in before)
    optim = build_optim_wrapper(model, act_cfg.optim_wrapper)
    data = dict(inputs=dict(points=torch.rand(4, 128, 3)))
    for _ in range(2):
        losses = model.train_step(data, optim)
    assert torch.isfinite(losses['loss'])
    after = network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. running stats
    assert not network.training
    assert not any(k.startswith('teacher') for k in model.state_dict())
    params = {id(p) for g in optim.optimizer.param_groups for p in g['params']}
    assert not params & {id(p) for p in network.parameters()}


def spy(owner, name, seen):
    """Replace ``owner.name`` by a wrapper recording ``seen[name] = (args, result)``."""
    original = getattr(owner, name)

    def wrapper(*args):
        seen[name] = (args, original(*args))
        return seen[name][1]
    setattr(owner, name, wrapper)


def test_target_is_the_teachers_features_of_the_masked_groups_in_decoder_order(act_cfg):
    """The target handed to the head is the stage-1 teacher's ``encode_groups`` features of the
    student's own (re-centred) groups, taken at the masked groups in ascending order, the order
    of the decoder's mask tokens (row j of both = masked group j). Guards against the visible
    groups' features, another cloud's mask, absolute coordinates fed to the teacher and a
    decoder whose masked rows are in another order."""
    model = build(act_cfg, teacher_mode='eval').eval()
    seen = {}
    for owner, name in ((model.backbone, 'group'), (model, 'generate_mask'),
                        (model, 'teacher_target'), (model.head, 'loss')):
        spy(owner, name, seen)
    block_in = []
    model.neck.transformer.blocks[0].register_forward_pre_hook(
        lambda m, args: block_in.append(args[0]))
    torch.manual_seed(0)
    points = torch.rand(2, 128, 3)
    with torch.no_grad():
        model(dict(points=points), mode='loss')
    _, (_, centers, group_idx, center_idx) = seen['group']
    _, mask = seen['generate_mask']
    (teacher_groups, teacher_centers), features = seen['teacher_target']
    # the teacher reads the student's re-centred groups
    torch.testing.assert_close(teacher_groups, torch.stack(
        [points[b, group_idx[b]] - points[b, center_idx[b]].unsqueeze(1) for b in range(2)]))
    assert teacher_centers is centers
    num_masked = int(0.8 * 16)
    assert features.shape[:2] == (2, 16) and (mask.sum(1) == num_masked).all()
    assert not torch.equal(mask[0], mask[1])
    (_, target), _ = seen['loss']
    first_block_in = block_in[0]
    assert target.shape == (2, num_masked, features.shape[-1])
    for b in range(2):
        hidden = mask[b].nonzero().flatten()
        torch.testing.assert_close(target[b], features[b, hidden])
        # decoder row j (of the masked part) = mask token + position of masked group j
        with torch.no_grad():
            expect = model.neck.mask_token[0] + model.neck.pos_embed(centers[b, hidden])
        torch.testing.assert_close(first_block_in[b, -num_masked:], expect)
