"""Reads cached teacher features into the sample, so training never runs the teacher."""
import os.path as osp
from typing import Optional

from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

from ...utils.teacher_cache import TeacherFeatureCache


@TRANSFORMS.register_module()
class LoadTeacherFeatures(BaseTransform):
    """``results[out_key]`` = the cached teacher feature of this sample, float32 of the
    cache's ``row_shape`` ((D,) for a CLIP embedding, (prefix_length, 768) for a ClipCap
    prefix; (D,) for caches written without a ``row_shape``), and
    ``results[out_key + '_cache']`` = ``cache_dir``.

    The row is looked up by ``results[key]`` (its file name when ``key`` is a path, e.g.
    'img_path' -> '<synset>-<id>.png'; the string itself otherwise, e.g. the prompt in
    'text'). Add ``out_key`` and ``out_key + '_cache'`` to ``Pack3DDetInputs``' meta_keys;
    ``ReCon`` then uses the cached target instead of running its teacher, after checking once
    per cache that it was made by the teacher of its own config (checkpoint sha256 included).
    Opening the cache verifies ``features.npy`` against ``meta.json`` (complete, shape, dtype,
    sha256 of the values; once per process and file version), so a replaced, zeroed or
    truncated file is refused with the command that rebuilds it.

    Args:
        cache_dir: a folder written by ``tools/cache_teacher_features.py``.
        key: the results key that identifies the teacher's input.
        out_key: where to put the feature, e.g. 'img_target' / 'text_target'.
        teacher: optionally the teacher config, to refuse a mismatched cache already when the
            dataset is built (the model checks in any case).
    """

    def __init__(self, cache_dir: str, key: str = 'img_path', out_key: str = 'img_target',
                 teacher: Optional[dict] = None) -> None:
        self.cache_dir = cache_dir
        self.key = key
        self.out_key = out_key
        self.cache = TeacherFeatureCache(cache_dir, teacher)
        #: the shape of one sample's feature
        self.row_shape = self.cache.row_shape

    @staticmethod
    def cache_key(value: str, key: str) -> str:
        """The cache row name of ``results[key] == value``."""
        return osp.basename(value) if key.endswith('path') else value

    def transform(self, results: dict) -> dict:
        if self.key not in results:
            raise KeyError(f'LoadTeacherFeatures: the sample has no {self.key!r} (keys: '
                           f'{sorted(results)})')
        results[self.out_key] = self.cache[self.cache_key(results[self.key], self.key)]
        results[f'{self.out_key}_cache'] = self.cache_dir
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(cache_dir={self.cache_dir!r}, key={self.key!r}, '
                f'out_key={self.out_key!r})')
