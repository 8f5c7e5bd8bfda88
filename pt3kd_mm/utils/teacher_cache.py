"""A teacher feature cache: run a frozen teacher once over a dataset, read its outputs during
training instead of running it.

On disk, one folder per teacher::

    <cache_dir>/meta.json       teacher fingerprint, keys (row order), width, dtype, count,
                                sha256 of the feature values (``features_sha256``), the shape
                                of one row (``row_shape``)
    <cache_dir>/features.npy    (N, D) float16 / float32, opened memory-mapped; D =
                                prod(row_shape): a teacher output of any shape per input (a
                                (10, 768) caption prefix) is stored flattened and read back in
                                its shape (caches without ``row_shape``: (D,) rows)

Rows are keyed by a string that identifies the teacher's input: a rendered view's file name
(``<synset>-<id>.png``) or a prompt text.

Writing is atomic (``write_cache``): both files go to a temporary sibling folder that replaces
``<cache_dir>`` only once it is complete, so a crash leaves the previous cache intact. Opening
(``TeacherFeatureCache``) checks the teacher (config + checkpoint sha256), the file's header
against ``meta.json`` (shape, dtype, truncation) and the features' sha256, once per process
and file version (a 52k x 512 cache: see ``verify_features``).
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

#: 2: meta.json records the features' sha256, shape and dtype (caches of format 1 do not)
FORMAT_VERSION = 2
CACHE_FILES = ('features.npy', 'meta.json')
_SHA_CACHE: Dict[tuple, str] = {}
_VERIFIED: Dict[tuple, str] = {}  # (path, size, mtime, ctime, inode) -> verified features sha256
_CHUNK_BYTES = 1 << 24


def file_sha256(path: str) -> str:
    """sha256 of a file, remembered per (path, size, mtime) within the process."""
    st = os.stat(path)
    key = (osp.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 22), b''):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def folder_sha256(path: str) -> str:
    """sha256 of a checkpoint folder (e.g. a sentence-transformers model): of the relative path
    and ``file_sha256`` of every file under it, in sorted order (hidden files skipped)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        for name in sorted(n for n in filenames if not n.startswith('.')):
            full = osp.join(dirpath, name)
            rel = osp.relpath(full, path).replace(os.sep, '/')
            digest.update(f'{rel}\0{file_sha256(full)}\n'.encode('utf-8'))
    return digest.hexdigest()


def _plain(obj: Any) -> Any:
    """Config objects -> JSON-comparable plain data (tuples -> lists, dict keys sorted)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


UNVERIFIED = 'unverified: checkpoint file absent'


def _checkpoint_record(checkpoint: Optional[str], require_checkpoint: bool) -> Dict[str, Any]:
    """{checkpoint_name, checkpoint_sha256} of a checkpoint path (see teacher_fingerprint)."""
    sha = None
    if checkpoint:
        path = osp.expanduser(checkpoint)
        if osp.isfile(path):
            sha = file_sha256(path)
        elif osp.isdir(path):  # a model folder (SentenceTextTeacher)
            sha = folder_sha256(path)
        elif require_checkpoint:
            raise FileNotFoundError(f'teacher checkpoint {checkpoint} does not exist')
        else:
            sha = UNVERIFIED
    return dict(checkpoint_name=osp.basename(osp.normpath(checkpoint)) if checkpoint else None,
                checkpoint_sha256=sha)


def _pop_nested_checkpoints(cfg: dict, path: str = '') -> Dict[str, Optional[str]]:
    """Remove the ``checkpoint`` of every dict nested in ``cfg`` (e.g. the CLIP teacher inside
    a ``ClipCapPrefixTeacher``: 'clip'); {dotted path: checkpoint}."""
    found = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            sub = f'{path}.{key}' if path else str(key)
            if isinstance(value.get('checkpoint'), str):
                found[sub] = value.pop('checkpoint')
            found.update(_pop_nested_checkpoints(value, sub))
    return found


def teacher_fingerprint(teacher_cfg: dict, require_checkpoint: bool = True) -> Dict[str, Any]:
    """What identifies a teacher's outputs, from its config, without building it: the config
    (checkpoint paths excluded, so the cache survives moving files), the checkpoint's file name
    and sha256, and the same for the checkpoint of every nested teacher config
    (``nested_checkpoints``, e.g. ``{'clip': {...}}`` of a ``ClipCapPrefixTeacher``; only
    recorded when there is one).

    Args:
        teacher_cfg: the teacher's config.
        require_checkpoint: raise when a checkpoint file is absent; otherwise its sha256 is
            recorded as ``UNVERIFIED`` (training from a cache on a machine without the teacher
            weights) and only the config and file name are compared.
    """
    cfg = _plain(dict(teacher_cfg))
    checkpoint = cfg.pop('checkpoint', None)
    fingerprint = dict(config=cfg, **_checkpoint_record(checkpoint, require_checkpoint))
    nested = _pop_nested_checkpoints(cfg)
    if nested:
        fingerprint['nested_checkpoints'] = {
            k: _checkpoint_record(v, require_checkpoint) for k, v in sorted(nested.items())}
    return fingerprint


def _checkpoint_mismatch(found: Dict[str, Any], expected: Dict[str, Any],
                         what: str = 'checkpoint') -> List[str]:
    if expected.get('checkpoint_sha256') == UNVERIFIED:
        if found.get('checkpoint_name') != expected.get('checkpoint_name'):
            return [f"{what} file {found.get('checkpoint_name')} (cache) vs "
                    f"{expected.get('checkpoint_name')} (config)"]
    elif found.get('checkpoint_sha256') != expected.get('checkpoint_sha256'):
        return [f"{what} sha256 {found.get('checkpoint_sha256')} (cache) vs "
                f"{expected.get('checkpoint_sha256')} (config)"]
    return []


def fingerprint_mismatch(found: Dict[str, Any], expected: Dict[str, Any]) -> List[str]:
    """Human-readable differences between a cache's fingerprint and the config's (empty when
    they agree). A sha256 is skipped when the config's checkpoint file is absent."""
    diffs = _checkpoint_mismatch(found, expected)
    f_nested, e_nested = found.get('nested_checkpoints', {}), expected.get('nested_checkpoints',
                                                                           {})
    for key in sorted(set(f_nested) | set(e_nested)):
        diffs += _checkpoint_mismatch(f_nested.get(key, {}), e_nested.get(key, {}),
                                      f'{key}.checkpoint')
    f_cfg, e_cfg = found.get('config', {}), expected.get('config', {})
    for key in sorted(set(f_cfg) | set(e_cfg)):
        if f_cfg.get(key) != e_cfg.get(key):
            diffs.append(f'{key}: {f_cfg.get(key)!r} (cache) vs {e_cfg.get(key)!r} (config)')
    return diffs


def rebuild_command(cache_dir: str, meta: Optional[dict] = None) -> str:
    """The command that (re)builds the cache ``cache_dir`` (with the config and teacher it was
    built from when ``meta`` names them)."""
    meta = meta if isinstance(meta, dict) else {}
    config = meta.get('source_config') or 'CONFIG'
    kind = meta.get('kind') or '{img,text}'
    dtype = f' --dtype {meta["dtype"]}' if meta.get('dtype') else ''
    return (f'python tools/cache_teacher_features.py {config} --teacher {kind} --out '
            f'{cache_dir}{dtype}')


def read_cache_meta(cache_dir: str) -> dict:
    """The ``meta.json`` of a cache folder (errors naming the file when it is missing or not
    valid JSON)."""
    meta_path = osp.join(cache_dir, 'meta.json')
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'teacher feature cache file {meta_path} does not exist; build '
                                f'the cache: {rebuild_command(cache_dir)}')
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f'teacher feature cache file {meta_path} is not valid JSON ({err}); '
                         f'the cache is damaged (e.g. an interrupted write): rebuild it: '
                         f'{rebuild_command(cache_dir)}') from err
    if not isinstance(meta, dict):
        raise ValueError(f'teacher feature cache file {meta_path} holds a '
                         f'{type(meta).__name__}, not an object; rebuild the cache: '
                         f'{rebuild_command(cache_dir)}')
    return meta


def check_cache_teacher(cache_dir: str, meta: dict, expected_teacher: dict) -> None:
    """Refuse a cache made by another teacher config or checkpoint than ``expected_teacher``.

    Raises:
        ValueError: naming the cache and every difference.
    """
    expected = teacher_fingerprint(expected_teacher, require_checkpoint=False)
    absent = [name for name, record in [('checkpoint', expected)] + sorted(
        expected.get('nested_checkpoints', {}).items())
              if record['checkpoint_sha256'] == UNVERIFIED]
    if absent:
        warnings.warn(f'{cache_dir}: the teacher checkpoint {expected_teacher.get("checkpoint")} '
                      f'is absent here, so only the teacher config and the file name are '
                      f'checked against the cache' if absent == ['checkpoint'] else
                      f'{cache_dir}: teacher checkpoints absent here ({absent}), so only the '
                      f'teacher config and their file names are checked against the cache')
    diffs = fingerprint_mismatch(meta['teacher'], expected)
    if diffs:
        raise ValueError(
            f'teacher feature cache {cache_dir} was made by another teacher than the config\'s: '
            + '; '.join(diffs) + '. Rebuild it with tools/cache_teacher_features.py or point '
            'the config at the right cache.')


def features_sha256(features: np.ndarray) -> str:
    """sha256 of the values of a C-contiguous (N, D) array as stored (its bytes in row
    order), hashed in chunks of rows (so a memory-mapped array is never read whole)."""
    features = np.ascontiguousarray(features)
    digest = hashlib.sha256()
    rows = max(1, _CHUNK_BYTES // max(features[:1].nbytes, 1))
    for start in range(0, features.shape[0], rows):
        digest.update(memoryview(np.ascontiguousarray(features[start:start + rows])).cast('B'))
    return digest.hexdigest()


def _npy_layout(path: str, cache_dir: str) -> Tuple[tuple, np.dtype, int]:
    """(shape, dtype, offset of the data) from a ``.npy`` header, with errors naming the
    file."""
    try:
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f'unsupported .npy version {version}')
            offset = f.tell()
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f'teacher feature cache file {path} is not a readable .npy file '
                         f'({err}); rebuild the cache: {rebuild_command(cache_dir)}') from err
    if fortran:
        raise ValueError(f'teacher feature cache file {path} is in Fortran order; rebuild the '
                         f'cache: {rebuild_command(cache_dir)}')
    return tuple(shape), dtype, offset


def verify_features(cache_dir: str, meta: dict) -> None:
    """Check ``<cache_dir>/features.npy`` against ``meta``: complete (not truncated), the shape
    and dtype recorded, and the sha256 of its values. The sha256 is computed once per process
    and file version (path, size, mtime, ctime, inode), streaming the file in 16 MiB chunks:
    0.05 s for 52k x 512 float16 (54 MB) and 0.09 s for float32 (107 MB), read from the page
    cache on one CPU core (measured on the development machine).

    Raises:
        ValueError: naming the file, what is wrong and the command that rebuilds the cache.
    """
    path = osp.join(cache_dir, 'features.npy')
    rebuild = f'rebuild the cache: {rebuild_command(cache_dir, meta)}'
    shape, dtype, offset = _npy_layout(path, cache_dir)
    expected_shape = (meta.get('num_rows'), meta.get('dims'))
    if shape != expected_shape or dtype.name != meta.get('dtype'):
        raise ValueError(f'{path} has shape {shape} and dtype {dtype}, meta.json says '
                         f'{expected_shape} and {meta.get("dtype")}; {rebuild}')
    st = os.stat(path)
    expected_bytes = offset + int(np.prod(shape)) * dtype.itemsize
    if st.st_size < expected_bytes:
        raise ValueError(f'teacher feature cache file {path} is truncated: {st.st_size} bytes, '
                         f'a {shape} {dtype} array needs {expected_bytes}; {rebuild}')
    key = (osp.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    recorded = meta.get('features_sha256')
    if _VERIFIED.get(key) == recorded:
        return
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        f.seek(offset)
        left = expected_bytes - offset
        while left > 0:
            chunk = f.read(min(_CHUNK_BYTES, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    found = digest.hexdigest()
    if found != recorded:
        raise ValueError(f'teacher feature cache file {path} does not hold the features '
                         f'meta.json records (sha256 of the values {found}, meta.json says '
                         f'{recorded}): the file was replaced (e.g. from another teacher) or '
                         f'damaged; {rebuild}')
    _VERIFIED[key] = found


def _check_replaceable(target: str) -> None:
    """``target`` must be absent, empty, or a previous cache (only its files), before it is
    replaced."""
    if not osp.lexists(target):
        return
    if not osp.isdir(target) or osp.islink(target):
        raise FileExistsError(f'{target} exists and is not a teacher feature cache folder; '
                              f'choose another output folder or remove it')
    others = sorted(set(os.listdir(target)) - set(CACHE_FILES))
    if others:
        raise FileExistsError(f'{target} exists and holds other files than a teacher feature '
                              f'cache ({others[:5]}); it is not replaced: choose another '
                              f'output folder or remove it')


def _write_synced(path: str, write) -> None:
    with open(path, 'wb') as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def write_cache(cache_dir: str, keys: Sequence[str], features: np.ndarray,
                fingerprint: Dict[str, Any], dtype: str = 'float16',
                extra: Optional[dict] = None) -> str:
    """Write ``features`` (N, *row_shape), row i belonging to ``keys[i]``, with the teacher's
    ``fingerprint`` and the features' sha256, shape and dtype. Rows are stored flattened,
    (N, D = prod(row_shape)), and ``row_shape`` is recorded in ``meta.json``. Returns
    ``cache_dir``.

    Atomic: the files are written into a temporary sibling folder, which replaces
    ``cache_dir`` (a previous cache) only when both are complete; on any error the temporary
    folder is removed and a previous cache stays as it was. A ``cache_dir`` holding other
    files than a cache's is refused, never replaced."""
    keys = list(keys)
    features = np.asarray(features)
    if features.ndim < 2 or len(keys) != features.shape[0]:
        raise ValueError(f'{len(keys)} keys for features of shape {features.shape}; expected '
                         f'(N, *row_shape) with N = the number of keys')
    row_shape = [int(s) for s in features.shape[1:]]
    features = features.reshape(features.shape[0], -1)
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise ValueError(f'duplicate cache keys {dup}: the key must identify the input uniquely')
    if dtype not in ('float16', 'float32'):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    if not np.isfinite(features).all():
        raise ValueError('the teacher produced NaN / infinite features; not caching them')
    if features.size and not features.any():
        raise ValueError('the teacher produced only zeros; not caching them (check its weights)')
    stored = np.ascontiguousarray(features.astype(dtype))
    meta = dict(format_version=FORMAT_VERSION, teacher=fingerprint, keys=keys,
                num_rows=len(keys), dims=int(features.shape[1]), row_shape=row_shape,
                dtype=dtype,
                features_sha256=features_sha256(stored), **(extra or {}))
    target = osp.abspath(cache_dir)
    _check_replaceable(target)
    parent, name = osp.split(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=parent)
    try:
        _write_synced(osp.join(tmp, 'features.npy'), lambda f: np.save(f, stored))
        _write_synced(osp.join(tmp, 'meta.json'),
                      lambda f: f.write(json.dumps(meta).encode('utf-8')))
        if osp.lexists(target):
            old = tempfile.mkdtemp(prefix=f'.{name}.old-', dir=parent)
            os.rename(target, osp.join(old, name))
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(osp.join(old, name), target)  # put the previous cache back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return cache_dir


def cache_row_shape(cache_dir: str, meta: dict) -> Tuple[int, ...]:
    """The shape of one row of a cache: ``meta['row_shape']``, or (D,) for caches written
    without it.

    Raises:
        ValueError: naming the cache when ``row_shape`` does not hold ``dims`` values.
    """
    dims = meta.get('dims')
    if meta.get('row_shape') is None:
        return (int(dims), )
    shape = tuple(int(s) for s in meta['row_shape'])
    if int(np.prod(shape)) != dims:
        raise ValueError(f'teacher feature cache {cache_dir}: meta.json row_shape {list(shape)} '
                         f'does not hold its {dims} values per row; rebuild the cache: '
                         f'{rebuild_command(cache_dir, meta)}')
    return shape


class TeacherFeatureCache:
    """Read side of a cache folder: ``cache[key]`` -> float32 row of shape ``row_shape``
    ((D,) for caches without one; memory-mapped file).

    Args:
        cache_dir: the folder ``write_cache`` wrote.
        expected_teacher: the teacher config the features must come from; a different teacher
            config or checkpoint raises ``ValueError`` naming the differences (None: no check
            here; ``ReCon`` checks against its own teacher config).
    """

    def __init__(self, cache_dir: str, expected_teacher: Optional[dict] = None) -> None:
        self.meta = read_cache_meta(cache_dir)
        feat_path = osp.join(cache_dir, 'features.npy')
        if not osp.isfile(feat_path):
            raise FileNotFoundError(f'teacher feature cache file {feat_path} does not exist; '
                                    f'rebuild the cache: '
                                    f'{rebuild_command(cache_dir, self.meta)}')
        version = self.meta.get('format_version')
        if version != FORMAT_VERSION or 'features_sha256' not in self.meta:
            what = ('was written without a checksum of its features, so a replaced or damaged '
                    'features.npy cannot be detected' if version in (1, FORMAT_VERSION) else
                    'is of an unknown format')
            raise ValueError(f'teacher feature cache {cache_dir} {what} (format {version}, '
                             f'expected {FORMAT_VERSION}); rebuild it: '
                             f'{rebuild_command(cache_dir, self.meta)}')
        if expected_teacher is not None:
            check_cache_teacher(cache_dir, self.meta, expected_teacher)
        self.cache_dir = cache_dir
        self.row_shape: Tuple[int, ...] = cache_row_shape(cache_dir, self.meta)
        verify_features(cache_dir, self.meta)
        self.features = np.load(feat_path, mmap_mode='r')
        self.index = {k: i for i, k in enumerate(self.meta['keys'])}

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def __getitem__(self, key: str) -> np.ndarray:
        row = self.index.get(key)
        if row is None:
            raise KeyError(f'teacher feature cache {self.cache_dir} has no entry {key!r}; it was '
                           f'built for another dataset or split: rebuild it with '
                           f'tools/cache_teacher_features.py')
        return np.asarray(self.features[row], dtype=np.float32).reshape(self.row_shape)
