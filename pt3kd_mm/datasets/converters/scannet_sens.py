"""ScanNet's raw ``.sens`` RGB-D recordings: a streaming reader and a writer.

Layout (version 4, little-endian), as ScanNet's ``SensReader/python/SensorData.py`` reads it::

    uint32 version (4) | uint64 strlen | sensor_name (strlen bytes)
    float32[16] intrinsic_color, extrinsic_color, intrinsic_depth, extrinsic_depth (row-major)
    int32 color_compression_type (-1 unknown, 0 raw, 1 png, 2 jpeg)
    int32 depth_compression_type (-1 unknown, 0 raw_ushort, 1 zlib_ushort, 2 occi_ushort)
    uint32 color_width, color_height, depth_width, depth_height | float32 depth_shift
    uint64 num_frames, then per frame:
        float32[16] camera_to_world | uint64 timestamp_color, timestamp_depth
        uint64 color_size_bytes, depth_size_bytes | colour bytes | depth bytes

ScanNet stores JPEG colour and zlib-compressed uint16 depth (``depth / depth_shift`` metres,
depth_shift 1000); those are decoded here (PNG colour and raw uint16 depth too). The
extrinsics are read as camera-to-rig matrices (``depth2img = K_color @ inv(E_color) @ E_depth``).
"""
import os
import os.path as osp
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

SENS_VERSION = 4
COLOR_COMPRESSION = {-1: 'unknown', 0: 'raw', 1: 'png', 2: 'jpeg'}
DEPTH_COMPRESSION = {-1: 'unknown', 0: 'raw_ushort', 1: 'zlib_ushort', 2: 'occi_ushort'}
_MATRIX = struct.Struct('<16f')
_HEADER_TAIL = struct.Struct('<2i4IfQ')  # compression types, sizes, depth_shift, num_frames
_FRAME_HEADER = struct.Struct('<16f4Q')   # pose, timestamps, colour / depth byte counts


class FrameError(ValueError):
    """A frame that cannot be read: names the file, the frame index and the reason."""

    def __init__(self, path: str, frame: int, reason: str) -> None:
        super().__init__(f'{path}: frame {frame}: {reason}')
        self.path, self.frame, self.reason = path, frame, reason


class CorruptFrameWarning(UserWarning):
    """A frame skipped by the converter (the message names file, frame and reason)."""


# --------------------------------------------------------------------------------------------
# .sens reading and writing
# --------------------------------------------------------------------------------------------
@dataclass
class SensHeader:
    """The header of a ``.sens`` file; matrices (4, 4) float32, sizes in pixels."""
    sensor_name: str
    intrinsic_color: np.ndarray
    extrinsic_color: np.ndarray
    intrinsic_depth: np.ndarray
    extrinsic_depth: np.ndarray
    color_compression_type: str
    depth_compression_type: str
    color_width: int
    color_height: int
    depth_width: int
    depth_height: int
    depth_shift: float
    num_frames: int
    version: int = SENS_VERSION


@dataclass
class RGBDFrame:
    """One ``.sens`` frame as stored: pose (4, 4) float32 camera-to-world, timestamps and the
    still-encoded colour and depth bytes."""
    index: int
    camera_to_world: np.ndarray
    timestamp_color: int
    timestamp_depth: int
    color_bytes: bytes
    depth_bytes: bytes


def decode_color(data: bytes, path: str, frame: int) -> np.ndarray:
    """JPEG / PNG bytes -> (H, W, 3) uint8 RGB; :class:`FrameError` when undecodable."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise FrameError(path, frame, f'colour image ({len(data)} bytes) is not a decodable '
                         f'JPEG / PNG')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_depth(data: bytes, compression: str, height: int, width: int, path: str,
                 frame: int) -> np.ndarray:
    """``.sens`` depth bytes -> (height, width) uint16 (raw units, ``depth_shift`` per metre);
    :class:`FrameError` for bad zlib data, a wrong size or an unsupported compression."""
    if compression == 'zlib_ushort':
        try:
            data = zlib.decompress(data)
        except zlib.error as err:
            raise FrameError(path, frame, f'depth is not valid zlib data ({err})') from None
    elif compression != 'raw_ushort':
        raise FrameError(path, frame, f'depth compression {compression!r} is not supported '
                         f'(zlib_ushort and raw_ushort are)')
    if len(data) != 2 * height * width:
        raise FrameError(path, frame, f'depth holds {len(data)} bytes, expected '
                         f'{2 * height * width} for {width}x{height} uint16')
    return np.frombuffer(data, '<u2').reshape(height, width).astype(np.uint16)


def _read_exactly(f: BinaryIO, num: int, path: str, what: str) -> bytes:
    data = f.read(num)
    if len(data) != num:
        raise ValueError(f'{path}: file ends inside the header ({what}); the .sens file is '
                         f'truncated or not a .sens file')
    return data


def _parse_header(f: BinaryIO, path: str) -> SensHeader:
    """The header of the open ``.sens`` file ``f`` (at its start); leaves ``f`` at frame 0."""
    version = struct.unpack('<I', _read_exactly(f, 4, path, 'version'))[0]
    if version != SENS_VERSION:
        raise ValueError(f'{path}: .sens version {version}, expected {SENS_VERSION} (ScanNet '
                         f'v2); is this a .sens file?')
    strlen = struct.unpack('<Q', _read_exactly(f, 8, path, 'sensor name length'))[0]
    if strlen > 4096:
        raise ValueError(f'{path}: sensor name length {strlen} is implausible; the file is '
                         f'corrupt or not a .sens file')
    name = _read_exactly(f, strlen, path, 'sensor name').decode('utf-8', 'replace')
    mats = [np.array(_MATRIX.unpack(_read_exactly(f, 64, path, 'calibration')), np.float32)
            .reshape(4, 4) for _ in range(4)]
    ctype, dtype, cw, ch, dw, dh, shift, num = _HEADER_TAIL.unpack(
        _read_exactly(f, _HEADER_TAIL.size, path, 'image sizes'))
    return SensHeader(name, *mats, COLOR_COMPRESSION.get(ctype, f'invalid ({ctype})'),
                      DEPTH_COMPRESSION.get(dtype, f'invalid ({dtype})'), cw, ch, dw, dh,
                      float(shift), int(num))


def read_sens_header(path: str) -> SensHeader:
    """Only the header of the ``.sens`` file ``path`` (no frame is read)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'.sens file {path} not found')
    with open(path, 'rb') as f:
        return _parse_header(f, path)


class SensReader:
    """Lazy reader of one ScanNet ``.sens`` file.

    Opening reads the header and every frame's 96-byte header (seeking over the image bytes),
    so ``len(reader)``, ``reader.poses`` (F, 4, 4) and ``reader.timestamps`` (F, 2) are
    available at once; ``reader[i]`` reads frame ``i``'s bytes and :meth:`read_rgbd` decodes
    them. A file cut short inside frame ``i`` keeps frames ``< i`` readable;
    ``reader.truncated_at`` is ``i`` and reading frame ``>= i`` raises :class:`FrameError`
    naming the file and frame.

    Args:
        path: the ``.sens`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file, for a wrong version or a header cut short.
    """

    def __init__(self, path: str) -> None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'.sens file {path} not found')
        self.path = path
        self._file: Optional[BinaryIO] = open(path, 'rb')
        try:
            self.header = self._read_header()
            self._index()
        except Exception:
            self.close()
            raise

    def _read_header(self) -> SensHeader:
        return _parse_header(self._file, self.path)

    def _index(self) -> None:
        num = self.header.num_frames
        size = os.fstat(self._file.fileno()).st_size
        self._offsets = np.zeros(num, np.int64)  # start of each frame's colour bytes
        self._sizes = np.zeros((num, 2), np.int64)
        self.poses = np.zeros((num, 4, 4), np.float32)
        self.timestamps = np.zeros((num, 2), np.uint64)
        self.truncated_at: Optional[int] = None
        pos = self._file.tell()
        for i in range(num):
            self._file.seek(pos)
            head = self._file.read(_FRAME_HEADER.size)
            if len(head) != _FRAME_HEADER.size:
                self.truncated_at = i
                break
            values = _FRAME_HEADER.unpack(head)
            color_size, depth_size = values[18], values[19]
            end = pos + _FRAME_HEADER.size + color_size + depth_size
            if end > size:
                self.truncated_at = i
                break
            self.poses[i] = np.array(values[:16], np.float32).reshape(4, 4)
            self.timestamps[i] = values[16:18]
            self._offsets[i] = pos + _FRAME_HEADER.size
            self._sizes[i] = color_size, depth_size
            pos = end

    def __len__(self) -> int:
        return self.header.num_frames

    def _check(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f'{self.path} has {len(self)} frames, no frame {index}')
        index = index % len(self)
        if self.truncated_at is not None and index >= self.truncated_at:
            raise FrameError(self.path, index, f'the file ends inside frame '
                             f'{self.truncated_at} (truncated .sens file): frames '
                             f'{self.truncated_at}..{len(self) - 1} cannot be read')
        return index

    def __getitem__(self, index: int) -> RGBDFrame:
        index = self._check(index)
        if self._file is None:
            raise ValueError(f'{self.path}: the reader is closed')
        self._file.seek(int(self._offsets[index]))
        color_size, depth_size = (int(s) for s in self._sizes[index])
        color = self._file.read(color_size)
        depth = self._file.read(depth_size)
        return RGBDFrame(index, self.poses[index].copy(), int(self.timestamps[index, 0]),
                         int(self.timestamps[index, 1]), color, depth)

    def __iter__(self) -> Iterator[RGBDFrame]:
        for i in range(len(self)):
            yield self[i]

    def read_rgbd(self, index: int) -> Tuple[bytes, np.ndarray, np.ndarray]:
        """Frame ``index`` decoded: (colour bytes as stored, (H, W, 3) uint8 RGB colour,
        (H_d, W_d) uint16 depth); :class:`FrameError` for an undecodable frame."""
        frame = self[index]
        h = self.header
        if h.color_compression_type not in ('jpeg', 'png'):
            raise FrameError(self.path, index, f'colour compression '
                             f'{h.color_compression_type!r} is not supported (jpeg, png are)')
        color = decode_color(frame.color_bytes, self.path, frame.index)
        if color.shape[:2] != (h.color_height, h.color_width):
            raise FrameError(self.path, index, f'colour image is {color.shape[1]}x'
                             f'{color.shape[0]}, the header says {h.color_width}x'
                             f'{h.color_height}')
        depth = decode_depth(frame.depth_bytes, h.depth_compression_type, h.depth_height,
                             h.depth_width, self.path, frame.index)
        return frame.color_bytes, color, depth

    def close(self) -> None:
        """Close the file (also on leaving a ``with`` block)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> 'SensReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _as_matrix(matrix: Optional[np.ndarray], name: str) -> np.ndarray:
    """A (3, 3) or (4, 4) matrix (None: identity) as a (4, 4) float64 one."""
    if matrix is None:
        return np.eye(4)
    matrix = np.asarray(matrix, np.float64)
    if matrix.shape == (3, 3):
        out = np.eye(4)
        out[:3, :3] = matrix
        return out
    if matrix.shape != (4, 4):
        raise ValueError(f'{name} must be a (3, 3) or (4, 4) matrix, got shape {matrix.shape}')
    return matrix


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    """(H, W, 3) uint8 RGB -> JPEG bytes."""
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError('JPEG encoding failed')
    return buf.tobytes()


class SensWriter:
    """Writes a ``.sens`` file frame by frame (JPEG colour, zlib uint16 depth), as ScanNet's
    recorder does; the frame count in the header is patched on :meth:`close`.

    Args:
        path: the file to write.
        intrinsic_color, intrinsic_depth: (3, 3) or (4, 4) pinhole matrices.
        color_size, depth_size: (width, height) of the colour and depth images.
        extrinsic_color, extrinsic_depth: (4, 4) camera-to-rig matrices (default
            identity).
        depth_shift: raw depth units per metre (ScanNet: 1000, millimetres).
        sensor_name: stored in the header.
        jpeg_quality: used when :meth:`add_frame` is given a colour array.
    """

    def __init__(self, path: str, intrinsic_color: np.ndarray, intrinsic_depth: np.ndarray,
                 color_size: Tuple[int, int], depth_size: Tuple[int, int],
                 extrinsic_color: Optional[np.ndarray] = None,
                 extrinsic_depth: Optional[np.ndarray] = None, depth_shift: float = 1000.0,
                 sensor_name: str = 'StructureSensor', jpeg_quality: int = 95) -> None:
        self.path = path
        self.color_size, self.depth_size = tuple(color_size), tuple(depth_size)
        self.jpeg_quality = jpeg_quality
        self.num_frames = 0
        name = sensor_name.encode('utf-8')
        mats = [_as_matrix(m, n) for m, n in (
            (intrinsic_color, 'intrinsic_color'), (extrinsic_color, 'extrinsic_color'),
            (intrinsic_depth, 'intrinsic_depth'), (extrinsic_depth, 'extrinsic_depth'))]
        self._file: Optional[BinaryIO] = open(path, 'wb')
        self._file.write(struct.pack('<IQ', SENS_VERSION, len(name)) + name)
        for m in mats:
            self._file.write(_MATRIX.pack(*m.astype(np.float32).ravel()))
        self._num_pos = self._file.tell() + _HEADER_TAIL.size - 8
        self._file.write(_HEADER_TAIL.pack(2, 1, *self.color_size, *self.depth_size,
                                           depth_shift, 0))

    def add_frame(self, color: Union[bytes, np.ndarray], depth: Union[bytes, np.ndarray],
                  camera_to_world: np.ndarray, timestamp_color: Optional[int] = None,
                  timestamp_depth: Optional[int] = None) -> None:
        """Append a frame. ``color``: (H, W, 3) uint8 RGB (JPEG-encoded here) or encoded bytes
        written as they are; ``depth``: (H_d, W_d) uint16 (zlib-compressed here) or bytes
        written as they are; ``camera_to_world`` (4, 4); timestamps default to the frame
        index (microseconds in ScanNet)."""
        if self._file is None:
            raise ValueError(f'{self.path}: the writer is closed')
        if isinstance(color, np.ndarray):
            if color.shape != (self.color_size[1], self.color_size[0], 3):
                raise ValueError(f'colour image shape {color.shape} does not match the '
                                 f'header size {self.color_size} (width, height)')
            color = encode_jpeg(color, self.jpeg_quality)
        if isinstance(depth, np.ndarray):
            if depth.shape != (self.depth_size[1], self.depth_size[0]) or \
                    depth.dtype != np.uint16:
                raise ValueError(f'depth must be uint16 of shape ({self.depth_size[1]}, '
                                 f'{self.depth_size[0]}), got {depth.dtype} {depth.shape}')
            depth = zlib.compress(depth.astype('<u2').tobytes(), 1)
        index = self.num_frames
        pose = np.asarray(camera_to_world, np.float32).reshape(16)
        self._file.write(_FRAME_HEADER.pack(
            *pose, index if timestamp_color is None else timestamp_color,
            index if timestamp_depth is None else timestamp_depth, len(color), len(depth)))
        self._file.write(color)
        self._file.write(depth)
        self.num_frames += 1

    def close(self) -> None:
        """Write the frame count into the header and close the file."""
        if self._file is not None:
            self._file.seek(self._num_pos)
            self._file.write(struct.pack('<Q', self.num_frames))
            self._file.close()
            self._file = None

    def __enter__(self) -> 'SensWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
