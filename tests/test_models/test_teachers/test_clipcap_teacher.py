"""ClipCapPrefixTeacher: CLIP image embedding -> ClipCap mapping network, checked against a hand
computation written from ClipCap's definitions (github.com/rmokady/CLIP_prefix_caption,
train.py) on random ClipCap-format state dicts."""
import math
import socket
import sys
import warnings

import open_clip
import pytest
import torch
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers import TeacherSet
from pt3kd_mm.models.teachers import clipcap_teacher
from pt3kd_mm.testing import load_tool, random_clip, random_clipcap

TINY = random_clip.TINY_CLIP_CFG  # embed_dim 32, 32 px images
# small mapper sizes: prefix_size = TINY's embed_dim
SMALL = dict(prefix_size=32, prefix_length=3, clip_length=2, gpt_embed_dims=16, num_layers=2,
             num_heads=4)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Building the teacher from files must not touch the network."""

    def refuse(*args, **kwargs):
        raise AssertionError('network I/O attempted')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    path = random_clip.write_random_clip(str(tmp_path_factory.mktemp('clip') / 'clip.pth'))
    return random_clip.build_random_clip(seed=0).eval(), path


@pytest.fixture(scope='module')
def clipcap_files(tmp_path_factory):
    root = tmp_path_factory.mktemp('clipcap')
    return {t: random_clipcap.write_random_clipcap(str(root / f'{t}.pt'), t, seed=1, **SMALL)
            for t in ('mlp', 'transformer')}


def clip_cfg(path, **kwargs):
    return dict(type='CLIPImageTeacher', checkpoint=path, model_cfg=TINY, precision='fp32',
                **kwargs)


def teacher_cfg(clip_path, checkpoint, mapping_type='mlp', clip_kwargs=None, **kwargs):
    sizes = dict(SMALL)
    if mapping_type == 'mlp':
        for key in ('clip_length', 'num_layers', 'num_heads'):
            sizes.pop(key)
    sizes.update(kwargs)
    return dict(type='ClipCapPrefixTeacher', clip=clip_cfg(clip_path, **(clip_kwargs or {})),
                checkpoint=checkpoint, mapping_type=mapping_type, **sizes)


def images(size=32, n=2, seed=0):
    """RGB images in 0-255, what the data pipeline gives the teacher."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 255


def clip_embedding(clip, x):
    """open_clip's image embedding of 0-255 RGB images (CLIP's normalisation)."""
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1) * 255
    with torch.no_grad():
        return clip.encode_image((x - mean) / std, normalize=False)


# ------------------------------------------------------------------ ClipCap, by hand
def ref_mlp(state, prefix, prefix_length):
    """ClipCap MLP: Linear -> Tanh -> Linear, viewed as (B, prefix_length, D)."""
    p = 'clip_project.model.'
    hidden = torch.tanh(prefix @ state[p + '0.weight'].T + state[p + '0.bias'])
    out = hidden @ state[p + '2.weight'].T + state[p + '2.bias']
    return out.view(prefix.shape[0], prefix_length, -1)


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def ref_transformer(state, prefix, clip_length, num_layers, num_heads):
    """ClipCap TransformerMapper: linear -> (clip_length, D), append prefix_const, pre-norm
    layers (attention: queries / keys+values without bias, keys the first D channels of
    to_keys_values, values the last D, heads as contiguous channel blocks, scale
    1 / sqrt(D / heads), project with bias; MLP ratio 2 with ReLU), keep the tokens after
    clip_length."""
    p = 'clip_project.'
    b = prefix.shape[0]
    const = state[p + 'prefix_const']
    d = const.shape[1]
    x = (prefix @ state[p + 'linear.weight'].T + state[p + 'linear.bias']).view(b, clip_length, d)
    x = torch.cat([x, const.unsqueeze(0).repeat(b, 1, 1)], dim=1)
    dh = d // num_heads
    for i in range(num_layers):
        k = f'{p}transformer.layers.{i}.'
        y = layer_norm(x, state[k + 'norm1.weight'], state[k + 'norm1.bias'])
        queries = y @ state[k + 'attn.to_queries.weight'].T
        keys_values = y @ state[k + 'attn.to_keys_values.weight'].T
        keys, values = keys_values[..., :d], keys_values[..., d:]
        heads = []
        for h in range(num_heads):
            sl = slice(h * dh, (h + 1) * dh)
            att = torch.softmax(queries[..., sl] @ keys[..., sl].transpose(1, 2) / math.sqrt(dh),
                                dim=-1)
            heads.append(att @ values[..., sl])
        attn = torch.cat(heads, -1) @ state[k + 'attn.project.weight'].T + \
            state[k + 'attn.project.bias']
        x = x + attn
        y = layer_norm(x, state[k + 'norm2.weight'], state[k + 'norm2.bias'])
        hidden = torch.relu(y @ state[k + 'mlp.fc1.weight'].T + state[k + 'mlp.fc1.bias'])
        assert hidden.shape[-1] == 2 * d  # ClipCap's mlp_ratio
        x = x + hidden @ state[k + 'mlp.fc2.weight'].T + state[k + 'mlp.fc2.bias']
    return x[:, clip_length:]


# ------------------------------------------------------------------ tests
def test_mlp_matches_clipcap_and_ignores_gpt_keys_by_name(tiny_clip, clipcap_files,
                                                          monkeypatch):
    clip, clip_path = tiny_clip
    logged = []
    monkeypatch.setattr(clipcap_teacher, 'print_log', lambda msg, **kw: logged.append(msg))
    teacher = MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp']))
    assert teacher.target_shape == (3, 16) and teacher.normalize_prefix is False
    assert teacher.ignored_keys == sorted(k for k in torch.load(clipcap_files['mlp'])
                                          if k.startswith('gpt.'))
    assert len(logged) == 1 and 'ignored 5 GPT-2 keys' in logged[0] and \
        "'gpt.lm_head.weight'" in logged[0] and clipcap_files['mlp'] in logged[0]
    x = images()
    out = teacher(x)
    state = torch.load(clipcap_files['mlp'])
    ref = ref_mlp(state, clip_embedding(clip, x), 3)
    assert out.shape == (2, 3, 16) and out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, ref)
    # the mapper holds ClipCap's weights exactly, nothing of GPT-2
    own = teacher.network.state_dict()
    assert sorted(own) == ['model.0.bias', 'model.0.weight', 'model.2.bias', 'model.2.weight']
    for key, value in own.items():
        assert torch.equal(value, state['clip_project.' + key])


@pytest.mark.parametrize('normalize_prefix', [None, False])
def test_transformer_matches_clipcap(tiny_clip, clipcap_files, normalize_prefix):
    clip, clip_path = tiny_clip
    teacher = MODELS.build(teacher_cfg(clip_path, clipcap_files['transformer'], 'transformer',
                                       normalize_prefix=normalize_prefix))
    # ClipCap's transformer inference (transformer_inference.ipynb) L2-normalises the prefix
    assert teacher.normalize_prefix is (normalize_prefix is None)
    assert teacher.target_shape == (3, 16)
    x = images(n=3)
    prefix = clip_embedding(clip, x)
    if normalize_prefix is None:
        prefix = prefix / prefix.norm(2, -1, keepdim=True)
    ref = ref_transformer(torch.load(clipcap_files['transformer']), prefix, clip_length=2,
                          num_layers=2, num_heads=4)
    out = teacher(x)
    assert out.shape == (3, 3, 16) and out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
    # samples are independent (no mixing across the batch)
    torch.testing.assert_close(teacher(x[1:2]), ref[1:2])


def test_normalize_prefix_on_the_mlp(tiny_clip, clipcap_files):
    clip, clip_path = tiny_clip
    plain = MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp']))
    normed = MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp'], normalize_prefix=True))
    x = images()
    prefix = clip_embedding(clip, x)
    state = torch.load(clipcap_files['mlp'])
    unit = prefix / prefix.norm(2, -1, keepdim=True)
    torch.testing.assert_close(normed(x), ref_mlp(state, unit, 3))
    torch.testing.assert_close(normed.encode_image(x), unit)
    torch.testing.assert_close(plain.encode_image(x), prefix)
    assert not torch.allclose(normed(x), plain(x))


def test_real_sizes_mlp_512_to_10x768(tmp_path):
    """The paper's setting: a 512-d CLIP embedding (ViT-B/32 width) -> 10 x 768 prefix, 224 px
    images (a narrow random CLIP tower with the 512-d projection keeps it fast)."""
    clip_cfg_512 = dict(embed_dim=512,
                        vision_cfg=dict(image_size=224, layers=1, width=32, patch_size=32,
                                        head_width=16),
                        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2,
                                      layers=1))
    clip_path = random_clip.write_random_clip(str(tmp_path / 'clip512.pth'), clip_cfg_512)
    ckpt = random_clipcap.write_random_clipcap(str(tmp_path / 'coco_weights.pt'))
    state = torch.load(ckpt)
    assert state['clip_project.model.0.weight'].shape == (3840, 512)
    assert state['clip_project.model.2.weight'].shape == (7680, 3840)
    teacher = MODELS.build(dict(
        type='ClipCapPrefixTeacher', checkpoint=ckpt,
        clip=dict(type='CLIPImageTeacher', checkpoint=clip_path, model_cfg=clip_cfg_512,
                  precision='fp32')))
    assert teacher.target_shape == (10, 768) and teacher.image_size == (224, 224)
    x = images(size=224)
    out = teacher(x)
    assert out.shape == (2, 10, 768) and out.dtype == torch.float32
    clip = random_clip.build_random_clip(clip_cfg_512).eval()
    torch.testing.assert_close(out, ref_mlp(state, clip_embedding(clip, x), 10))


def test_wrapped_and_module_prefixed_checkpoints(tiny_clip, clipcap_files, tmp_path):
    _, clip_path = tiny_clip
    state = torch.load(clipcap_files['mlp'])
    ref = MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp']))(images())
    for name, obj in [('sd.pth', dict(state_dict=state)), ('model.pth', dict(model=state)),
                      ('ddp.pt', {f'module.{k}': v for k, v in state.items()})]:
        path = str(tmp_path / name)
        torch.save(obj, path)
        torch.testing.assert_close(MODELS.build(teacher_cfg(clip_path, path))(images()), ref)


def test_errors_name_the_file_and_keys(tiny_clip, clipcap_files, tmp_path):
    _, clip_path = tiny_clip
    missing = str(tmp_path / 'coco_weights.pt')
    with pytest.raises(FileNotFoundError, match=r"ClipCap checkpoint '.*coco_weights\.pt' does "
                       r'not exist\. Download .*random_clipcap_checkpoint\.py'):
        MODELS.build(teacher_cfg(clip_path, missing))
    # a file without the mapper (e.g. a CLIP file given by mistake)
    with pytest.raises(KeyError, match=r'clip\.pth has no ClipCap mapping network keys '
                       r'\(clip_project\.\*\)'):
        MODELS.build(teacher_cfg(clip_path, clip_path))
    # keys of neither the mapper nor GPT-2
    odd = str(tmp_path / 'odd.pt')
    torch.save(dict(torch.load(clipcap_files['mlp']), extra_head=torch.zeros(2)), odd)
    with pytest.raises(KeyError, match=r"odd\.pt has keys that are neither .*\['extra_head'\]"):
        MODELS.build(teacher_cfg(clip_path, odd))
    # shapes that do not fit prefix_length: the key, both shapes, what the file holds
    with pytest.raises(ValueError, match=r"mlp\.pt: mapper shapes do not fit the config: "
                       r"clip_project\.model\.0\.weight: \(24, 32\) in the file, \(40, 32\) "
                       r"for the config.*the file holds a mapper with mapping_type='mlp', "
                       r"prefix_size=32, prefix_length_x_gpt_embed_dims=48; the config asks "
                       r"for mapping_type='mlp', prefix_size=32, prefix_length=5"):
        MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp'], prefix_length=5))
    # the other mapping type: missing / unexpected keys, and what the file is
    with pytest.raises(KeyError, match=r"mlp\.pt does not match the configured ClipCap mapper: "
                       r"missing keys \['clip_project\.linear\.bias'.*unexpected keys "
                       r"\['clip_project\.model\.0\.bias'.*mapping_type='mlp'"):
        MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp'], 'transformer'))
    with pytest.raises(KeyError, match=r"transformer\.pt does not match.*missing keys "
                       r"\['clip_project\.transformer\.layers\.2\..*the file holds a mapper "
                       r"with mapping_type='transformer', prefix_size=32, clip_length=2, "
                       r"prefix_length=3, gpt_embed_dims=16, num_layers=2"):
        MODELS.build(teacher_cfg(clip_path, clipcap_files['transformer'], 'transformer',
                                 num_layers=3))
    # the CLIP and the mapper must agree on the embedding width
    wide = random_clipcap.write_random_clipcap(str(tmp_path / 'rn.pt'), prefix_size=64,
                                               prefix_length=3, gpt_embed_dims=16)
    with pytest.raises(ValueError, match=r'the CLIP teacher gives \(32,\) embeddings but '
                       r'prefix_size is 64'):
        MODELS.build(teacher_cfg(clip_path, wide, prefix_size=64))
    with pytest.raises(ValueError, match="clip.output must be 'embedding'"):
        MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp'],
                                 clip_kwargs=dict(output='patch_tokens')))
    with pytest.raises(ValueError, match=r"mapping_type must be one of \('mlp', "
                       r"'transformer'\), got 'linear'"):
        MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp'], 'linear'))
    with pytest.raises(FileNotFoundError, match='CLIPImageTeacher: teacher checkpoint'):
        MODELS.build(teacher_cfg(str(tmp_path / 'no_clip.pth'), clipcap_files['mlp']))


class Student(BaseModule):

    def __init__(self, cfg):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.teachers = TeacherSet(dict(concept=cfg))


def test_frozen_contract_in_a_student(tiny_clip, clipcap_files):
    _, clip_path = tiny_clip
    student = Student(teacher_cfg(clip_path, clipcap_files['transformer'], 'transformer'))
    teacher = student.teachers['concept']
    assert [n for n, _ in student.named_parameters()] == ['linear.weight', 'linear.bias']
    assert sorted(student.state_dict()) == ['linear.bias', 'linear.weight']
    assert list(teacher.parameters()) == [] and dict(teacher.state_dict()) == {}
    clip_teacher = teacher.clip_teacher
    for net in (teacher.network, clip_teacher.network):
        assert all(not p.requires_grad for p in net.parameters())
    student.train()
    teacher.train()
    assert not any(m.training for m in (teacher, teacher.network, clip_teacher,
                                        clip_teacher.network))
    before = {k: v.clone() for k, v in teacher.network.state_dict().items()}
    student.init_weights()
    assert all(torch.equal(before[k], v) for k, v in teacher.network.state_dict().items())
    x = images().requires_grad_(True)
    out = teacher(x)
    assert not out.requires_grad
    # moving the student moves the mapper and the nested CLIP tower
    student.to(torch.float64)
    assert next(teacher.network.parameters()).dtype == torch.float64
    assert next(clip_teacher.network.parameters()).dtype == torch.float64
    torch.testing.assert_close(teacher(x.detach().double()).float(), out, rtol=1e-4, atol=1e-4)


def test_channel_order_is_the_clip_teachers(tiny_clip, clipcap_files):
    _, clip_path = tiny_clip
    rgb = MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp']))
    bgr = MODELS.build(teacher_cfg(clip_path, clipcap_files['mlp'],
                                   clip_kwargs=dict(channel_order='bgr')))
    assert (rgb.channel_order, bgr.channel_order) == ('rgb', 'bgr')
    assert bgr.network_channel_order == 'rgb' and bgr.image_size == (32, 32)
    assert bgr.mean == open_clip.OPENAI_DATASET_MEAN and bgr.std == open_clip.OPENAI_DATASET_STD
    x = images()
    torch.testing.assert_close(bgr(x.flip(1)), rgb(x))
    assert not torch.allclose(rgb(x.flip(1)), rgb(x))
    with pytest.raises(ValueError, match=r'expects \(32, 32\) images'):
        rgb(images(size=16))


def test_config_check_sees_the_nested_clip_teacher(tiny_clip, clipcap_files):
    from pt3kd_mm.engine.config_checks import (check_image_channel_order,
                                               image_loader_orders, image_teacher_orders)
    _, clip_path = tiny_clip
    concept = teacher_cfg(clip_path, clipcap_files['mlp'], clip_kwargs=dict(channel_order='bgr'))
    cfg = dict(model=dict(type='X', concept_teacher=concept),
               train_dataloader=dict(dataset=dict(pipeline=[
                   dict(type='LoadFrameImage'), dict(type='Pack3DDetInputs', keys=['img'])])))
    assert image_teacher_orders(cfg) == [('model.concept_teacher.clip', 'bgr')]
    assert image_loader_orders(cfg) == [('train_dataloader.dataset.pipeline[0]', 'rgb')]
    with pytest.raises(ValueError, match=r"model\.concept_teacher\.clip takes BGR "
                       r"\(channel_order='bgr'\).*clip=dict\(channel_order=\.\.\.\)"):
        check_image_channel_order(cfg)
    concept['clip']['channel_order'] = 'rgb'
    check_image_channel_order(cfg)
    # a rendered-view loader is seen as before
    cfg['train_dataloader']['dataset']['pipeline'][0] = dict(type='LoadRenderedImage',
                                                             to_rgb=False)
    with pytest.raises(ValueError, match=r'pipeline\[0\] loads BGR \(to_rgb=False\)'):
        check_image_channel_order(cfg)


def test_precision_of_the_mapper(tiny_clip, clipcap_files):
    _, clip_path = tiny_clip
    fp32 = MODELS.build(teacher_cfg(clip_path, clipcap_files['transformer'], 'transformer'))
    assert fp32.precision == 'fp32'
    bf16 = MODELS.build(teacher_cfg(clip_path, clipcap_files['transformer'], 'transformer',
                                    precision='bf16'))
    x = images()
    with warnings.catch_warnings():  # CPUs without bf16 units: 'bf16 is emulated' warning
        warnings.simplefilter('ignore')
        out = bf16(x)
    ref = fp32(x)
    assert out.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(out.flatten(1), ref.flatten(1))
    assert cos.min() > 0.99
    # weights stay fp32, bit-identical
    for key, value in bf16.network.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, fp32.network.state_dict()[key])


def test_random_clipcap_tool(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'sub' / 'tf.pt')
    monkeypatch.setattr(sys, 'argv', [
        'random_clipcap_checkpoint.py', out, '--mapping-type', 'transformer', '--prefix-size',
        '32', '--prefix-length', '3', '--clip-length', '2', '--gpt-embed-dims', '16',
        '--num-layers', '2', '--num-heads', '4', '--seed', '3'])
    load_tool('tools/misc/random_clipcap_checkpoint.py').main()
    printed = capsys.readouterr().out
    assert "mapping_type='transformer'" in printed and 'clip_length=2' in printed
    state = torch.load(out, weights_only=True)
    assert state['clip_project.linear.weight'].shape == (2 * 16, 32)
    assert state['clip_project.prefix_const'].shape == (3, 16)
    assert state['clip_project.transformer.layers.1.attn.to_keys_values.weight'].shape == \
        (32, 16)
    assert 'clip_project.transformer.layers.0.attn.to_queries.bias' not in state  # no bias
    assert state['clip_project.transformer.layers.0.mlp.fc1.weight'].shape == (32, 16)
    assert any(k.startswith('gpt.transformer.') for k in state)
    same = random_clipcap.random_clipcap_state_dict('transformer', seed=3, **SMALL)
    assert all(torch.equal(state[k], same[k]) for k in same)
    with pytest.raises(ValueError, match='mapping_type must be one of'):
        random_clipcap.random_clipcap_state_dict('linear')
