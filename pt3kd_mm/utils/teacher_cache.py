"""A teacher feature cache: run a frozen teacher once over a dataset, read its outputs during
training instead of running it.

On disk, one folder per teacher::

    <cache_dir>/meta.json       teacher fingerprint, keys (row order), width, dtype, count
    <cache_dir>/features.npy    (N, D) float16 / float32, opened memory-mapped

Rows are keyed by a string that identifies the teacher's input: a rendered view's file name
(``<synset>-<id>.png``) or a prompt text.
"""
import hashlib
import json
import os
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

FORMAT_VERSION = 1
_SHA_CACHE: Dict[tuple, str] = {}


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


def teacher_fingerprint(teacher_cfg: dict, require_checkpoint: bool = True) -> Dict[str, Any]:
    """What identifies a teacher's outputs, from its config, without building it: the config
    (checkpoint path excluded, so the cache survives moving files), the checkpoint's file name
    and sha256.

    Args:
        teacher_cfg: the teacher's config.
        require_checkpoint: raise when the checkpoint file is absent; otherwise its sha256 is
            recorded as ``UNVERIFIED`` (training from a cache on a machine without the teacher
            weights) and only the config and file name are compared.
    """
    cfg = _plain(dict(teacher_cfg))
    checkpoint = cfg.pop('checkpoint', None)
    sha = None
    if checkpoint:
        path = osp.expanduser(checkpoint)
        if osp.isfile(path):
            sha = file_sha256(path)
        elif require_checkpoint:
            raise FileNotFoundError(f'teacher checkpoint {checkpoint} does not exist')
        else:
            sha = UNVERIFIED
    return dict(config=cfg, checkpoint_name=osp.basename(checkpoint) if checkpoint else None,
                checkpoint_sha256=sha)


def fingerprint_mismatch(found: Dict[str, Any], expected: Dict[str, Any]) -> List[str]:
    """Human-readable differences between a cache's fingerprint and the config's (empty when
    they agree). The sha256 is skipped when the config's checkpoint file is absent."""
    diffs = []
    if expected.get('checkpoint_sha256') == UNVERIFIED:
        if found.get('checkpoint_name') != expected.get('checkpoint_name'):
            diffs.append(f"checkpoint file {found.get('checkpoint_name')} (cache) vs "
                         f"{expected.get('checkpoint_name')} (config)")
    elif found.get('checkpoint_sha256') != expected.get('checkpoint_sha256'):
        diffs.append(f"checkpoint sha256 {found.get('checkpoint_sha256')} (cache) vs "
                     f"{expected.get('checkpoint_sha256')} (config)")
    f_cfg, e_cfg = found.get('config', {}), expected.get('config', {})
    for key in sorted(set(f_cfg) | set(e_cfg)):
        if f_cfg.get(key) != e_cfg.get(key):
            diffs.append(f'{key}: {f_cfg.get(key)!r} (cache) vs {e_cfg.get(key)!r} (config)')
    return diffs


def read_cache_meta(cache_dir: str) -> dict:
    """The ``meta.json`` of a cache folder (error naming the file when it is missing)."""
    meta_path = osp.join(cache_dir, 'meta.json')
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'teacher feature cache file {meta_path} does not exist; build '
                                f'the cache with tools/cache_teacher_features.py')
    with open(meta_path) as f:
        return json.load(f)


def check_cache_teacher(cache_dir: str, meta: dict, expected_teacher: dict) -> None:
    """Refuse a cache made by another teacher config or checkpoint than ``expected_teacher``.

    Raises:
        ValueError: naming the cache and every difference.
    """
    expected = teacher_fingerprint(expected_teacher, require_checkpoint=False)
    if expected['checkpoint_sha256'] == UNVERIFIED:
        warnings.warn(f'{cache_dir}: the teacher checkpoint {expected_teacher.get("checkpoint")} '
                      f'is absent here, so only the teacher config and the file name are '
                      f'checked against the cache')
    diffs = fingerprint_mismatch(meta['teacher'], expected)
    if diffs:
        raise ValueError(
            f'teacher feature cache {cache_dir} was made by another teacher than the config\'s: '
            + '; '.join(diffs) + '. Rebuild it with tools/cache_teacher_features.py or point '
            'the config at the right cache.')


def write_cache(cache_dir: str, keys: Sequence[str], features: np.ndarray,
                fingerprint: Dict[str, Any], dtype: str = 'float16',
                extra: Optional[dict] = None) -> str:
    """Write ``features`` (N, D), row i belonging to ``keys[i]``, with the teacher's
    ``fingerprint``. Returns ``cache_dir``."""
    keys = list(keys)
    if features.ndim != 2 or len(keys) != features.shape[0]:
        raise ValueError(f'{len(keys)} keys for features of shape {features.shape}')
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise ValueError(f'duplicate cache keys {dup}: the key must identify the input uniquely')
    if dtype not in ('float16', 'float32'):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    if not np.isfinite(features).all():
        raise ValueError('the teacher produced NaN / infinite features; not caching them')
    os.makedirs(cache_dir, exist_ok=True)
    np.save(osp.join(cache_dir, 'features.npy'), features.astype(dtype))
    meta = dict(format_version=FORMAT_VERSION, teacher=fingerprint, keys=keys,
                num_rows=len(keys), dims=int(features.shape[1]), dtype=dtype, **(extra or {}))
    with open(osp.join(cache_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    return cache_dir


class TeacherFeatureCache:
    """Read side of a cache folder: ``cache[key]`` -> (D,) float32 row (memory-mapped file).

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
                                    f'build the cache with tools/cache_teacher_features.py')
        if self.meta.get('format_version') != FORMAT_VERSION:
            raise ValueError(f'{cache_dir}: cache format {self.meta.get("format_version")}, '
                             f'expected {FORMAT_VERSION}; rebuild the cache')
        if expected_teacher is not None:
            check_cache_teacher(cache_dir, self.meta, expected_teacher)
        self.cache_dir = cache_dir
        self.features = np.load(feat_path, mmap_mode='r')
        if self.features.shape != (self.meta['num_rows'], self.meta['dims']):
            raise ValueError(f'{feat_path} has shape {self.features.shape}, meta.json says '
                             f'({self.meta["num_rows"]}, {self.meta["dims"]}); rebuild the cache')
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
        return np.asarray(self.features[row], dtype=np.float32)
