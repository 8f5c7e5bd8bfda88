"""A minimal reader of ONNX model files (protobuf wire format), enough to recover the weights of
an exported network without the ``onnx`` package.

The fields read (numbers as in onnx/onnx.proto):

* ``ModelProto``: graph = 7 (``GraphProto``);
* ``GraphProto``: node = 1 (``NodeProto``, repeated), initializer = 5 (``TensorProto``,
  repeated);
* ``NodeProto``: input = 1, output = 2 (strings, repeated), name = 3, op_type = 4,
  attribute = 5 (``AttributeProto``: name = 1, t = 5, a tensor, e.g. a ``Constant`` node's
  ``value``);
* ``TensorProto``: dims = 1 (int64, packed or not), data_type = 2, float_data = 4,
  int32_data = 5, int64_data = 7, name = 8, raw_data = 9 (little-endian), double_data = 10,
  data_location = 14 (1 = external data, refused).

Everything else (opsets, value infos, sub-graphs, metadata) is skipped.
"""
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Tuple, Union

import numpy as np

#: ONNX ``TensorProto.DataType`` -> numpy dtype (the types weights come in)
ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64,
               9: np.bool_, 10: np.float16, 11: np.float64}

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
FieldValue = Union[int, memoryview]


class OnnxFormatError(ValueError):
    """The bytes are no ONNX model this reader understands."""


@dataclass
class OnnxNode:
    """One ``NodeProto``: its name, operator, input / output value names and the tensors of its
    tensor attributes (a ``Constant`` node's ``value``)."""
    name: str
    op_type: str
    inputs: List[str] = field(default_factory=list)
    outputs: List[str] = field(default_factory=list)
    tensors: Dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class OnnxGraph:
    """The nodes (in graph order) and the initializers (name -> array) of a model."""
    nodes: List[OnnxNode]
    initializers: Dict[str, np.ndarray]

    def constants(self) -> Dict[str, np.ndarray]:
        """Every constant value by name: the initializers and the outputs of ``Constant``
        nodes."""
        out = dict(self.initializers)
        for node in self.nodes:
            if node.op_type == 'Constant' and 'value' in node.tensors and node.outputs:
                out[node.outputs[0]] = node.tensors['value']
        return out


def _varint(buf: memoryview, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise OnnxFormatError('truncated varint')
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def iter_fields(buf: memoryview) -> Iterator[Tuple[int, int, FieldValue]]:
    """(field number, wire type, value) of every field of one message: an int for varints, a
    memoryview of the bytes for length-delimited, fixed32 and fixed64 fields."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            value = buf[pos:pos + size]
            pos += size
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            value = buf[pos:pos + size]
            pos += size
        else:
            raise OnnxFormatError(f'unsupported wire type {wire} (field {number})')
        if pos > end:
            raise OnnxFormatError(f'field {number} runs past the end of its message')
        yield number, wire, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _packed_varints(value: FieldValue, wire: int) -> List[int]:
    if wire == _VARINT:
        return [_signed64(value)]
    out, pos = [], 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(_signed64(item))
    return out


def parse_tensor(buf: memoryview) -> Tuple[str, np.ndarray]:
    """A ``TensorProto`` -> (name, array of its dims and dtype)."""
    name, dims, data_type, raw = '', [], 0, None
    typed: Dict[int, list] = {}
    for number, wire, value in iter_fields(buf):
        if number == 1:
            dims.extend(_packed_varints(value, wire))
        elif number == 2:
            data_type = value
        elif number == 8:
            name = bytes(value).decode('utf-8')
        elif number == 9:
            raw = value
        elif number == 4:  # float_data: packed or repeated fixed32
            typed.setdefault(4, []).extend(
                struct.unpack(f'<{len(value) // 4}f', value))
        elif number == 10:  # double_data
            typed.setdefault(10, []).extend(struct.unpack(f'<{len(value) // 8}d', value))
        elif number in (5, 7):  # int32_data / int64_data (varints)
            typed.setdefault(number, []).extend(_packed_varints(value, wire))
        elif number == 14 and value == 1:
            raise OnnxFormatError(f'tensor {name!r} keeps its data in an external file, which '
                                  f'this reader does not follow')
    if data_type not in ONNX_DTYPES:
        raise OnnxFormatError(f'tensor {name!r} has the unsupported data type {data_type}')
    dtype = np.dtype(ONNX_DTYPES[data_type]).newbyteorder('<')
    if raw is not None:
        array = np.frombuffer(raw, dtype=dtype).copy()
    elif data_type == 10:  # float16 values travel as the bits in int32_data
        array = np.array(typed.get(5, []), dtype=np.uint16).view(np.float16)
    else:
        source = {1: 4, 11: 10, 7: 7}.get(data_type, 5)
        array = np.array(typed.get(source, []), dtype=dtype)
    count = int(np.prod(dims)) if dims else 1
    if array.size != count:
        raise OnnxFormatError(f'tensor {name!r}: {array.size} values for the shape {dims}')
    return name, array.astype(dtype.newbyteorder('='), copy=False).reshape(dims)


def parse_node(buf: memoryview) -> OnnxNode:
    """A ``NodeProto`` -> ``OnnxNode`` (tensor attributes decoded, others skipped)."""
    node = OnnxNode(name='', op_type='')
    for number, _, value in iter_fields(buf):
        if number == 1:
            node.inputs.append(bytes(value).decode('utf-8'))
        elif number == 2:
            node.outputs.append(bytes(value).decode('utf-8'))
        elif number == 3:
            node.name = bytes(value).decode('utf-8')
        elif number == 4:
            node.op_type = bytes(value).decode('utf-8')
        elif number == 5:
            attr_name, tensor = '', None
            for attr_number, _, attr_value in iter_fields(value):
                if attr_number == 1:
                    attr_name = bytes(attr_value).decode('utf-8')
                elif attr_number == 5:
                    tensor = parse_tensor(attr_value)[1]
            if tensor is not None:
                node.tensors[attr_name] = tensor
    return node


def parse_graph(buf: memoryview) -> OnnxGraph:
    """A ``GraphProto`` -> ``OnnxGraph``."""
    nodes, initializers = [], {}
    for number, _, value in iter_fields(buf):
        if number == 1:
            nodes.append(parse_node(value))
        elif number == 5:
            name, array = parse_tensor(value)
            initializers[name] = array
    return OnnxGraph(nodes, initializers)


def load_onnx_graph(path: str) -> OnnxGraph:
    """The main graph of the ONNX model file ``path`` (nodes and initializers)."""
    with open(path, 'rb') as f:
        data = memoryview(f.read())
    try:
        graphs = [value for number, wire, value in iter_fields(data)
                  if number == 7 and wire == _LEN]
        if not graphs:
            raise OnnxFormatError('no graph')
        return parse_graph(graphs[-1])
    except (OnnxFormatError, UnicodeDecodeError, struct.error, ValueError) as err:
        raise OnnxFormatError(f'{path} is no readable ONNX model: {err}') from err
