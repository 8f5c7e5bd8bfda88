"""Reads cached teacher features into the sample, so training never runs the teacher."""
import os.path as osp
from typing import Optional

from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

from ..teacher_cache import TeacherFeatureCache


@TRANSFORMS.register_module()
class LoadTeacherFeatures(BaseTransform):
    """``results[out_key]`` = the cached teacher feature (D,) float32 of this sample.

    The row is looked up by ``results[key]`` (its file name when ``key`` is a path, e.g.
    'img_path' -> '<synset>-<id>.png'; the string itself otherwise, e.g. the prompt in
    'text'). Add ``out_key`` to ``Pack3DDetInputs``' meta_keys; algorithms that accept cached
    targets (``ReCon``) then skip their teacher.

    Args:
        cache_dir: a folder written by ``tools/cache_teacher_features.py``.
        teacher: the teacher config the features must come from (the one the model would use);
            a cache made by another teacher config or checkpoint is refused at start-up.
            None skips the check (not recommended).
        key: the results key that identifies the teacher's input.
        out_key: where to put the feature, e.g. 'img_target' / 'text_target'.
    """

    def __init__(self, cache_dir: str, teacher: Optional[dict], key: str = 'img_path',
                 out_key: str = 'img_target') -> None:
        self.cache_dir = cache_dir
        self.key = key
        self.out_key = out_key
        # opened (and checked) now, so a wrong cache fails before training starts
        self.cache = TeacherFeatureCache(cache_dir, teacher)

    @staticmethod
    def cache_key(value: str, key: str) -> str:
        """The cache row name of ``results[key] == value``."""
        return osp.basename(value) if key.endswith('path') else value

    def transform(self, results: dict) -> dict:
        if self.key not in results:
            raise KeyError(f'LoadTeacherFeatures: the sample has no {self.key!r} (keys: '
                           f'{sorted(results)})')
        results[self.out_key] = self.cache[self.cache_key(results[self.key], self.key)]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(cache_dir={self.cache_dir!r}, key={self.key!r}, '
                f'out_key={self.out_key!r})')
