"""Image and text inputs of cross-modal pre-training (ReCon): the rendered view of each shape and
a prompt made of its category name.

The image augmentation itself is made of mmcv / mmpretrain transforms in the config
(``configs/_base_/datasets/shapenet55_recon.py``); this module only adds what they lack.
"""
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile

from mmdet3d.registry import TRANSFORMS

_PREFIXES = ('', 'A ', 'A model of ', 'A model of a ', 'A image of ', 'A image of a ',
             'A 3D model of ', 'A 3D model of a ', 'A rendering model of ',
             'A rendering model of a ', 'A point cloud of ', 'A point cloud of a ',
             'A point cloud model of ', 'A point cloud model of a ', 'A 3D rendering model of ',
             'A 3D rendering model of a ', 'A rendering image of ', 'A rendering image of a ',
             'A 3D rendering image of ', 'A 3D rendering image of a ')
_SUFFIXES = ('.', ' with white background.', ' with black context.')

#: ReCon's 60 prompt templates as (prefix, suffix); template ``j`` is
#: ``(_PREFIXES[j % 20], _SUFFIXES[j // 20])``, the prompt is ``prefix + name + suffix``.
RECON_TEMPLATES: List[Tuple[str, str]] = [
    (_PREFIXES[j % len(_PREFIXES)], _SUFFIXES[j // len(_PREFIXES)])
    for j in range(len(_PREFIXES) * len(_SUFFIXES))
]


def _apply(template: Union[str, Tuple[str, str]], name: str) -> str:
    if isinstance(template, str):
        return template.format(name)
    prefix, suffix = template
    return f'{prefix}{name}{suffix}'


def recon_prompts(name: str) -> List[str]:
    """The 60 ReCon prompts of the class ``name`` in template index order (the zero-shot class
    prompts), e.g. ``recon_prompts('chair')[7] == 'A 3D model of a chair.'``."""
    return [_apply(t, name) for t in RECON_TEMPLATES]


@TRANSFORMS.register_module()
class LoadRenderedImage(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` for the rendered view ``results['img_path']``, in RGB by
    default and with errors that name the file and the expected layout.

    Added keys: img (H, W, 3) uint8, img_shape and ori_shape ((H, W)).

    Args:
        to_rgb: return RGB (True: what the image teachers expect; they normalise RGB 0-255
            views themselves). False keeps OpenCV's BGR order, which is what the reference
            ReCon code feeds its augmentation and teacher (``cv2.imread`` without a
            conversion).
        Others as mmcv's ``LoadImageFromFile`` (e.g. ``backend_args`` for remote storage).

    A missing file raises FileNotFoundError and an undecodable one ValueError, both naming the
    file and the expected layout ``<data_root>/shapenet_img/<synset>-<id>.png``.
    """

    LAYOUT = ('rendered views are expected in the ReCon layout '
              '<data_root>/shapenet_img/<synset>-<id>.png (python tools/create_demo_data.py '
              'writes a small dataset in this layout)')

    #: what the errors call the file
    WHAT = 'rendered image'

    def __init__(self, to_rgb: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.to_rgb = to_rgb

    def transform(self, results: dict) -> dict:
        path = results.get('img_path')
        if not path:
            raise KeyError(f'{type(self).__name__}: the sample has no img_path; {self.LAYOUT}')
        try:
            results = super().transform(results)
        except (FileNotFoundError, IsADirectoryError):
            raise FileNotFoundError(f'{self.WHAT} {path} does not exist; {self.LAYOUT}') \
                from None
        except Exception as err:  # mmcv asserts on undecodable bytes; cv2 raises on empty
            raise ValueError(f'{self.WHAT} {path} cannot be decoded as an image; '
                             f'{self.LAYOUT}') from err
        if results is None:  # ignore_empty=True and no file
            raise FileNotFoundError(f'{self.WHAT} {path} does not exist; {self.LAYOUT}')
        if self.to_rgb:
            results['img'] = mmcv.bgr2rgb(results['img'])
        return results

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, to_rgb={self.to_rgb})'


@TRANSFORMS.register_module()
class RandomTextPrompt(BaseTransform):
    """``results[out_key]`` = a prompt made of ``results[name_key]`` in a random template
    (numpy's global RNG, which mmengine seeds per data-loader worker).

    Args:
        templates: (prefix, suffix) pairs or format strings with one ``{}``; default the 60
            ReCon templates (``RECON_TEMPLATES``).
        name_key: the results key of the class name.
        out_key: where the prompt goes (add it to ``Pack3DDetInputs``' meta_keys).
        template_index: always use this template (deterministic: tests, feature caching).
    """

    def __init__(self,
                 templates: Optional[Sequence[Union[str, Sequence[str]]]] = None,
                 name_key: str = 'category_name',
                 out_key: str = 'text',
                 template_index: Optional[int] = None) -> None:
        templates = RECON_TEMPLATES if templates is None else templates
        self.templates = [t if isinstance(t, str) else tuple(t) for t in templates]
        if not self.templates:
            raise ValueError('RandomTextPrompt needs at least one template')
        for t in self.templates:
            if isinstance(t, str) and t.count('{}') != 1:
                raise ValueError(f'template {t!r} must contain exactly one {{}} for the name')
            if not isinstance(t, str) and len(t) != 2:
                raise ValueError(f'template {t!r} must be a (prefix, suffix) pair')
        if template_index is not None and not 0 <= template_index < len(self.templates):
            raise ValueError(f'template_index {template_index} is out of range for '
                             f'{len(self.templates)} templates')
        self.name_key = name_key
        self.out_key = out_key
        self.template_index = template_index

    def all_prompts(self, name: str) -> List[str]:
        """Every prompt this transform can give for the class ``name``, in template order (the
        one of ``template_index`` when it is fixed), e.g. to cache text-teacher features."""
        if self.template_index is not None:
            return [_apply(self.templates[self.template_index], name)]
        return [_apply(t, name) for t in self.templates]

    def transform(self, results: dict) -> dict:
        if self.name_key not in results:
            raise KeyError(f'RandomTextPrompt: the sample has no {self.name_key!r} (keys: '
                           f'{sorted(results)})')
        j = self.template_index
        if j is None:
            j = int(np.random.randint(len(self.templates)))
        results[self.out_key] = _apply(self.templates[j], str(results[self.name_key]))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_templates={len(self.templates)}, '
                f'name_key={self.name_key!r}, out_key={self.out_key!r}, '
                f'template_index={self.template_index})')
