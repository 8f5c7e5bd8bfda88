"""tools/model_converters/{point_mae,recon}_to_pt3kd.py: a random state dict in the reference
key layout (tests/test_tools/reference_point_nets.py re-implements the reference networks),
converted, loads strictly into the models of our configs and gives the reference's features
(eval mode, same groups and mask) within 1e-5."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import load_tool
from reference_point_nets import FinetuneEncoder, MaskedPretrain, fixed_groups, randomise

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
POINT_MAE = load_tool('tools/model_converters/point_mae_to_pt3kd.py')
RECON = load_tool('tools/model_converters/recon_to_pt3kd.py')
DIM, DEPTH, HEADS, GROUPS, K = 32, 2, 2, 8, 8
TOL = dict(atol=1e-5, rtol=1e-5)


def save_reference(model, path, module_prefix=False, root='base_model'):
    state = model.state_dict()
    if module_prefix:
        state = {f'module.{k}': v for k, v in state.items()}
    torch.save({root: state, 'epoch': 300, 'metrics': {'acc': 0.0}}, path)


def config_model(name, **heads):
    """The model of configs/<name> at test sizes."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    cfg.model.backbone.update(embed_dims=DIM, depth=DEPTH, num_heads=HEADS, num_groups=GROUPS,
                              group_size=K)
    cfg.model.neck.update(depth=2, num_heads=HEADS)
    for head, dims in heads.items():
        cfg.model[head].target_dims = dims
    return MODELS.build(cfg.model)


def fix_grouping(backbone, neighborhood, centers):
    backbone.group = lambda points: (neighborhood, centers, None, None)


def load_strict(model, path, prefix=''):
    state = torch.load(path, weights_only=True)['state_dict']
    if prefix:  # one part of the model (e.g. the encoder of a fine-tuned classifier)
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.mark.parametrize('module_prefix', [False, True])
def test_point_mae_pretrain_parity(tmp_path, capsys, module_prefix):
    ref = randomise(MaskedPretrain(DIM, DEPTH, HEADS, 2, K))
    src, dst = str(tmp_path / 'ref.pth'), str(tmp_path / 'ours.pth')
    save_reference(ref, src, module_prefix)
    assert POINT_MAE.main([src, dst]) == 0
    model = load_strict(config_model('point_mae_pretrain.py'), dst)
    neighborhood, centers, mask = fixed_groups(2, GROUPS, K)
    fix_grouping(model.backbone, neighborhood, centers)
    model.generate_mask = lambda c: mask
    with torch.no_grad():
        expected = ref(neighborhood, centers, mask)
        out = model.masked_forward(torch.zeros(2, 64, 3))
        visible = model.backbone.forward_visible(neighborhood, centers, mask)
        points = model.head.predict(out.masked_tokens)
    torch.testing.assert_close(visible, expected['visible'], **TOL)
    torch.testing.assert_close(out.masked_tokens, expected['decoded'], **TOL)
    torch.testing.assert_close(points, expected['points'], **TOL)
    assert 'have no counterpart' not in capsys.readouterr().out


def classifier(name, num_classes=5, **overrides):
    """The PointClassifier of configs/classification/<name> at test sizes."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'classification', name))
    cfg.model.backbone.update(embed_dims=DIM, depth=DEPTH, num_heads=HEADS, num_groups=GROUPS,
                              group_size=K, init_cfg=None)
    cfg.model.head.num_classes = num_classes
    cfg.model.update(overrides)
    return MODELS.build(cfg.model)


def test_point_mae_finetune_parity(tmp_path, capsys):
    """A fine-tuned Point-MAE checkpoint (encoder and head) gives the reference's logits."""
    ref = randomise(FinetuneEncoder(DIM, DEPTH, HEADS))
    src, dst = str(tmp_path / 'ref.pth'), str(tmp_path / 'ours.pth')
    save_reference(ref, src, root='model')
    POINT_MAE.main(['--layout', 'finetune', src, dst])
    assert 'no counterpart' not in capsys.readouterr().out  # the head converts too
    model = load_strict(classifier('point_mae_finetune_modelnet40-1k.py'), dst)
    neighborhood, centers, _ = fixed_groups(2, GROUPS, K)
    fix_grouping(model.backbone, neighborhood, centers)
    with torch.no_grad():
        expected = ref(neighborhood, centers)
        out = model.backbone(torch.zeros(2, 64, 3))
        logits = model(dict(points=torch.zeros(2, 64, 3)), mode='tensor')
        ref_logits = ref.logits(neighborhood, centers)
    torch.testing.assert_close(out['cls_token'], expected[:, 0], **TOL)
    torch.testing.assert_close(out['tokens'], expected[:, 1:], **TOL)
    assert ref_logits.abs().max() > 0.1  # random weights give non-trivial logits
    torch.testing.assert_close(logits, ref_logits, **TOL)


def test_recon_pretrain_parity(tmp_path, capsys):
    ref = randomise(MaskedPretrain(DIM, DEPTH, HEADS, 2, K, recon=True, img_dims=24,
                                   text_dims=20))
    src, dst = str(tmp_path / 'ref.pth'), str(tmp_path / 'ours.pth')
    save_reference(ref, src, module_prefix=True)
    RECON.main([src, dst])
    printed = capsys.readouterr().out
    assert '  img_encoder.0.weight\n' in printed and '  text_encoder.0.bias\n' in printed
    model = load_strict(config_model('recon_pretrain.py', img_head=24, text_head=20), dst)
    neighborhood, centers, mask = fixed_groups(2, GROUPS, K)
    fix_grouping(model.backbone, neighborhood, centers)
    model.generate_mask = lambda c: mask
    with torch.no_grad():
        expected = ref(neighborhood, centers, mask)
        out = model.masked_forward(torch.zeros(2, 64, 3))
        encoded = model.backbone.forward_visible(neighborhood, centers, mask)
        img, text = model.img_head(out.prefix_tokens[:, 1]), model.text_head(
            out.prefix_tokens[:, 2])
    torch.testing.assert_close(out.prefix_tokens, expected['queries'], **TOL)
    torch.testing.assert_close(encoded[:, 3:], expected['visible'], **TOL)
    torch.testing.assert_close(out.masked_tokens, expected['decoded'], **TOL)
    torch.testing.assert_close(model.head.predict(out.masked_tokens), expected['points'],
                               **TOL)
    torch.testing.assert_close(img, expected['img'], **TOL)
    torch.testing.assert_close(text, expected['text'], **TOL)


@pytest.mark.parametrize('config,linear', [('recon_finetune_scanobjectnn-hardest.py', False),
                                           ('recon_linear_scanobjectnn-hardest.py', True)])
def test_recon_finetune_parity(tmp_path, capsys, config, linear):
    """A fine-tuned ReCon checkpoint (MLP or linear head) gives the reference's logits."""
    ref = randomise(FinetuneEncoder(DIM, DEPTH, HEADS, recon=True, linear=linear))
    src, dst = str(tmp_path / 'ref.pth'), str(tmp_path / 'ours.pth')
    save_reference(ref, src)
    RECON.main(['--layout', 'finetune', src, dst])
    assert 'no counterpart' not in capsys.readouterr().out
    model = load_strict(classifier(config), dst)
    assert model.backbone.detach_local is False
    neighborhood, centers, _ = fixed_groups(2, GROUPS, K)
    fix_grouping(model.backbone, neighborhood, centers)
    with torch.no_grad():
        expected = ref(neighborhood, centers)
        out = model.backbone(torch.zeros(2, 64, 3))
        logits = model(dict(points=torch.zeros(2, 64, 3)), mode='tensor')
        ref_logits = ref.logits(neighborhood, centers)
    torch.testing.assert_close(out['query_tokens'], expected[:, :3], **TOL)
    torch.testing.assert_close(out['tokens'], expected[:, 3:], **TOL)
    assert ref_logits.abs().max() > 0.1
    torch.testing.assert_close(logits, ref_logits, **TOL)


def test_prenorm_block_is_not_the_reference(tmp_path):
    """The parity above depends on ReCon's block: the standard pre-norm block gives other
    features from the same weights."""
    ref = randomise(FinetuneEncoder(DIM, DEPTH, HEADS, recon=True))
    src, dst = str(tmp_path / 'ref.pth'), str(tmp_path / 'ours.pth')
    save_reference(ref, src)
    RECON.main(['--layout', 'finetune', src, dst])
    backbone = MODELS.build(dict(type='ReConPointTransformer', embed_dims=DIM, depth=DEPTH,
                                 num_heads=HEADS, num_groups=GROUPS, group_size=K,
                                 block_type='prenorm'))
    load_strict(backbone, dst, 'backbone.')
    neighborhood, centers, _ = fixed_groups(2, GROUPS, K)
    fix_grouping(backbone, neighborhood, centers)
    with torch.no_grad():
        diff = (backbone(torch.zeros(2, 64, 3))['tokens'] - ref(neighborhood, centers)[:, 3:])
    assert diff.abs().max() > 1e-2


@pytest.mark.parametrize('tool,layout,other', [
    (POINT_MAE, 'pretrain', dict(recon=True)),
    (RECON, 'pretrain', dict(recon=False)),
])
def test_other_layouts_are_refused(tmp_path, tool, layout, other):
    src = str(tmp_path / 'ref.pth')
    save_reference(MaskedPretrain(DIM, DEPTH, HEADS, 2, K, **other), src)
    with pytest.raises(ValueError, match=rf'is not a (Point-MAE|ReCon) {layout} checkpoint'):
        tool.main(['--layout', layout, src, str(tmp_path / 'out.pth')])
    save_reference(FinetuneEncoder(DIM, DEPTH, HEADS, **other), src)
    with pytest.raises(ValueError, match='Pick the converter'):
        tool.main(['--layout', layout, src, str(tmp_path / 'out.pth')])


def test_unreadable_and_rootless_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        POINT_MAE.main([str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth')])
    path = str(tmp_path / 'odd.pth')
    torch.save({'optimizer': {}, 'epoch': 3}, path)
    with pytest.raises(ValueError, match=r"no model weights under any of \['base_model'"):
        RECON.main([path, str(tmp_path / 'out.pth')])
