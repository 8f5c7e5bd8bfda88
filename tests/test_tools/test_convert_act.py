"""tools/model_converters/act_to_pt3kd.py: reference ACT checkpoints (stage 1, stage 2, fine-tuned)
converted, loaded strictly into models built from our configs, and computing what the reference
computes (a small re-implementation of RunpeiDong/ACT in reference_act.py, random weights in the
reference key layout, the same groups and a deterministic Gumbel choice on both sides)."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO, load_tool


def _load_reference():
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'reference_act.py')
    spec = importlib.util.spec_from_file_location('reference_act_for_tests', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
convert = load_tool('tools/model_converters/act_to_pt3kd.py')

B, G, K, C = 2, 8, 8, 64  # batch, groups, group size, point-token width
TOKENS, PROMPTS = 32, 4
VIT = dict(embed_dims=96, num_layers=3, num_heads=4, feedforward_channels=192)
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture
def groups():
    gen = torch.Generator().manual_seed(1)
    centers = torch.randn(B, G, 3, generator=gen)
    neighborhood = 0.1 * torch.randn(B, G, K, 3, generator=gen)
    return neighborhood, centers


@pytest.fixture
def fixed_gumbel(monkeypatch):
    """Gumbel-softmax without noise on both sides: argmax one-hot (hard) or softmax(l / tau)."""

    def gumbel(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
        if hard:
            return F.one_hot(logits.argmax(dim), logits.shape[dim]).to(logits)
        return (logits / tau).softmax(dim)

    monkeypatch.setattr(torch.nn.functional, 'gumbel_softmax', gumbel)


def reference_stage1(seed=0):
    model = ref.ACTPromptedDiscreteVAEwithVIT(
        C, TOKENS, K, VIT['embed_dims'], VIT['num_layers'], VIT['num_heads'],
        VIT['feedforward_channels'], PROMPTS)
    return ref.randomise_(model, seed).eval()


def save_reference(state, path, root='base_model', module=False):
    state = {('module.' if module else '') + k: v for k, v in state.items()}
    torch.save({root: state, 'epoch': 300, 'metrics': {'acc': 0.0}}, path)
    return str(path)


def stage1_cfg(ckpt, vit_ckpt):
    cfg = Config.fromfile(osp.join(REPO, 'configs/act_autoencoder.py')).model
    cfg.update(embed_dims=C, num_groups=G, group_size=K, num_tokens=TOKENS, num_prompts=PROMPTS)
    cfg.vit_blocks.update(checkpoint=vit_ckpt, arch=VIT)
    return cfg


def load_strict(model, path, prefix=''):
    state = torch.load(path, map_location='cpu', weights_only=True)['state_dict']
    if prefix:
        assert all(k.startswith(prefix) for k in state)
        state = {k[len(prefix):]: v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def test_stage1_parity(tmp_path, groups, fixed_gumbel):
    reference = reference_stage1()
    src = save_reference(reference.state_dict(), tmp_path / 'ckpt_act_dvae.pth')
    lines = []
    out = convert.convert_act(src, str(tmp_path / 'stage1.pth'), 'stage1',
                              vit_out=str(tmp_path / 'vit.pth'), printer=lines.append)
    assert 'deep_prompt_pos' in out and out['deep_prompt_pos'].shape == (2, PROMPTS, 96)
    assert not any('no counterpart' in line or 'not part of' in line for line in lines)
    assert any('num_layers=3' in line and 'feedforward_channels=192' in line for line in lines)
    model = MODELS.build(stage1_cfg(None, str(tmp_path / 'vit.pth')))
    load_strict(model, tmp_path / 'stage1.pth')
    neighborhood, centers = groups
    with torch.no_grad():
        for hard in (True, False):
            feats, coarse, fine, logits = reference.forward_groups(neighborhood, centers,
                                                                   hard=hard)
            mine = model.encode_groups(neighborhood, centers, hard=hard)
            torch.testing.assert_close(mine['logits'], logits, **TOL)
            torch.testing.assert_close(mine['features'], feats, **TOL)  # the stage-2 target
            my_coarse, my_fine = model.decoder(mine['features'])
            torch.testing.assert_close(my_coarse, coarse, **TOL)
            torch.testing.assert_close(my_fine, fine, **TOL)
        target = reference.forward_tokenizer_features(neighborhood, centers)
        torch.testing.assert_close(model.encode_groups(neighborhood, centers, hard=True)
                                   ['features'], target, **TOL)


def reference_stage2():
    tokenizer = reference_stage1(seed=1)
    model = ref.ACT_PointDistillation(C, depth=2, num_heads=4, decoder_depth=2,
                                      tokenizer=tokenizer, num_tokens=TOKENS)
    return ref.randomise_(model, seed=2).eval()


def test_stage2_parity(tmp_path, groups, fixed_gumbel):
    reference = reference_stage2()
    src = save_reference(reference.state_dict(), tmp_path / 'act_pretrain.pth', module=True)
    lines = []
    dst, stage1 = str(tmp_path / 'act.pth'), str(tmp_path / 'stage1.pth')
    convert.convert_act(src, dst, 'pretrain', stage1_out=stage1, printer=lines.append)
    printed = '\n'.join(lines)
    for key in ('ACT_encoder.lm_head.weight', 'ACT_encoder.cls_head.0.weight',
                'ACT_encoder.cls_head.2.bias'):
        assert f'  {key}\n' in printed + '\n', key
    assert 'dvae_tokenizer' not in printed.split('wrote')[-1]  # converted into stage1.pth
    vit = osp.join(tmp_path, 'stage1_vit_blocks.pth')
    assert osp.isfile(vit)

    cfg = Config.fromfile(osp.join(REPO, 'configs/act_pretrain.py')).model
    cfg.backbone.update(embed_dims=C, depth=2, num_heads=4, num_groups=G, group_size=K)
    cfg.neck.update(depth=2, num_heads=4)
    cfg.teacher.checkpoint = stage1
    cfg.teacher.model = stage1_cfg(None, vit)
    model = load_strict(MODELS.build(cfg), dst)
    model.teacher_mode = 'eval'

    neighborhood, centers = groups
    mask = torch.zeros(B, G, dtype=torch.bool)
    mask[0, [0, 2, 3, 5, 6, 7]] = True
    mask[1, [1, 2, 3, 4, 6, 7]] = True
    with torch.no_grad():
        encoded, decoded, student, teacher = reference.forward_features(
            neighborhood, centers, mask)
        mine = model.backbone.forward_visible(neighborhood, centers, mask)
        torch.testing.assert_close(mine, encoded, **TOL)  # CLS + visible tokens
        model.backbone.group = lambda points: (neighborhood, centers, None, None)
        model.generate_mask = lambda c: mask
        out = model.masked_forward(torch.zeros(B, 64, 3))
        torch.testing.assert_close(out.prefix_tokens[:, 0], encoded[:, 0], **TOL)
        torch.testing.assert_close(out.masked_tokens, decoded, **TOL)
        torch.testing.assert_close(model.head.proj(out.masked_tokens), student, **TOL)
        target = model.teacher_target(neighborhood, centers)[mask].reshape(B, -1, C)
        torch.testing.assert_close(target, teacher, **TOL)


@pytest.mark.parametrize('root,module', [('base_model', False), ('base_model', True),
                                         ('model', True)])
def test_finetuned_classifier_parity(tmp_path, groups, root, module):
    """A fine-tuned ACT checkpoint (encoder and MLP head) gives the reference's logits."""
    reference = ref.randomise_(ref.PointTransformer(C, depth=2, num_heads=4, cls_dim=15),
                               seed=3).eval()
    src = save_reference(reference.state_dict(), tmp_path / 'finetuned.pth', root, module)
    lines = []
    convert.convert_act(src, str(tmp_path / 'encoder.pth'), 'finetune', printer=lines.append)
    assert not [line for line in lines if 'no counterpart' in line or 'not part' in line]

    cfg = Config.fromfile(osp.join(REPO, 'configs/classification/'
                                   'act_finetune_scanobjectnn-hardest.py')).model
    cfg.backbone.update(embed_dims=C, depth=2, num_heads=4, num_groups=G, group_size=K,
                        init_cfg=None)
    assert cfg.backbone.with_cls_token and cfg.head.num_classes == 15
    model = load_strict(MODELS.build(cfg), tmp_path / 'encoder.pth').eval()
    neighborhood, centers = groups
    model.backbone.group = lambda points: (neighborhood, centers, None, None)
    with torch.no_grad():
        expected = reference.forward_tokens(neighborhood, centers)
        mine, _ = model.backbone.encode(model.backbone.patch_embed(neighborhood), centers)
        logits = model(dict(points=torch.zeros(B, 64, 3)), mode='tensor')
        ref_logits = reference(neighborhood, centers)
    torch.testing.assert_close(mine, expected, **TOL)
    assert ref_logits.abs().max() > 0.1
    torch.testing.assert_close(logits, ref_logits, **TOL)


def test_wrong_layout_refused_and_unknown_keys_printed(tmp_path):
    reference = ref.PointTransformer(C, depth=1, num_heads=4, cls_dim=15)
    src = save_reference(reference.state_dict(), tmp_path / 'finetuned.pth')
    with pytest.raises(ValueError, match=r'is not a ACT stage-1 \(ACTPromptedDiscreteVAEwithVIT'
                       r'.*no key matches .*codebook'):
        convert.convert_act(src, str(tmp_path / 'x.pth'), 'stage1', printer=lambda s: None)
    with pytest.raises(ValueError, match=r'is not a ACT stage-2 pre-training'):
        convert.convert_act(src, str(tmp_path / 'x.pth'), 'pretrain', printer=lambda s: None)
    # a fine-tuned file with an extra module: converted, the stranger printed by name
    state = dict(reference.state_dict(), **{'adapter.weight': torch.zeros(2, 2)})
    src = save_reference(state, tmp_path / 'extra.pth')
    lines = []
    convert.convert_act(src, str(tmp_path / 'y.pth'), 'finetune', printer=lines.append)
    assert '1 keys are not part of the expected layout and are not converted:' in lines
    assert '  adapter.weight' in lines
    # a Linear reduce_dim has no counterpart in PointPatchTransformer
    state = dict(reference.state_dict(), **{'reduce_dim.weight': torch.zeros(C, C)})
    src = save_reference(state, tmp_path / 'reduce.pth')
    with pytest.raises(ValueError, match='reduce_dim is a Linear'):
        convert.convert_act(src, str(tmp_path / 'z.pth'), 'finetune', printer=lambda s: None)


def test_converted_stage1_records_its_2d_file(tmp_path):
    """The converter writes the 2D blocks and records their sha256 in the stage-1 weights:
    the stage-1 model built with that file loads; with another 2D file it is refused."""
    from pt3kd_mm.models.teachers.frozen_vit_blocks import read_vit_record
    from pt3kd_mm.utils.teacher_cache import file_sha256
    src = save_reference(reference_stage1().state_dict(), tmp_path / 'ckpt_act_dvae.pth')
    vit = str(tmp_path / 'vit.pth')
    out = convert.convert_act(src, str(tmp_path / 'stage1.pth'), 'stage1', vit_out=vit,
                              printer=lambda line: None)
    assert read_vit_record(out['weights_2d_record'])['file_sha256'] == file_sha256(vit)
    load_strict(MODELS.build(stage1_cfg(None, vit)), tmp_path / 'stage1.pth')
    other = torch.load(vit, weights_only=True)
    torch.save({k: v + 1 for k, v in other.items()}, tmp_path / 'other_vit.pth')
    with pytest.raises(ValueError, match='other_vit.pth'):
        load_strict(MODELS.build(stage1_cfg(None, str(tmp_path / 'other_vit.pth'))),
                    tmp_path / 'stage1.pth')
