"""Checks of a whole config that no single module can make (they see only their own part)."""
import difflib
import inspect
from typing import Any, Iterable, Iterator, List, Tuple

#: the transform that loads rendered views
IMAGE_LOADER = 'LoadRenderedImage'
#: every transform that loads the images an image teacher sees: the rendered views
#: (``to_rgb``) and the ScanNet frames of concept distillation; a loader's order is its
#: ``to_rgb`` / ``channel_order`` argument (or that argument's default), 'rgb' without either
IMAGE_LOADERS = (IMAGE_LOADER, 'LoadFrameImage')
#: where a run reads images (the dataloaders, and the feature-cache tool's img_test_pipeline)
#: and where image teachers are configured; other top-level variables are building blocks
LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'img_test_pipeline')
TEACHER_KEYS = ('model', 'val_evaluator', 'test_evaluator')


def _parts(cfg: Any, keys: Tuple[str, ...]) -> Iterator[Tuple[str, dict]]:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            yield from _walk(cfg[key], key)


def _walk(node: Any, path: str) -> Iterator[Tuple[str, dict]]:
    """(dotted path, dict) of every dict inside ``node`` (lists and tuples included)."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}[{i}]')


def _default(cls: type, arg: str) -> Any:
    return inspect.signature(cls.__init__).parameters[arg].default


def _class(registry, type_name: Any):
    if isinstance(type_name, type):
        return type_name
    if not isinstance(type_name, str):
        return None
    try:
        return registry.get(type_name)
    except Exception:  # a type of another scope that cannot be imported here: not ours
        return None


def image_teacher_orders(cfg: dict) -> List[Tuple[str, str]]:
    """(config path, channel_order) of every image teacher (a ``NormalisesImages`` model)
    configured in ``cfg``'s model or evaluators, nested ones included (the CLIP teacher inside
    a ``ClipCapPrefixTeacher``: ``model.<name>_teacher.clip``)."""
    from mmdet3d.registry import MODELS
    from ..models.teachers.image_input import NormalisesImages
    out = []
    for path, node in _parts(cfg, TEACHER_KEYS):
        cls = _class(MODELS, node.get('type'))
        if cls is not None and issubclass(cls, NormalisesImages):
            out.append((path, node.get('channel_order', _default(cls, 'channel_order'))))
    return out


def _loader_order(cls: Any, node: dict) -> str:
    """'rgb' / 'bgr': the order an image loader's config ``node`` loads images in."""
    params = inspect.signature(cls.__init__).parameters if isinstance(cls, type) else {}
    if 'to_rgb' in node or 'to_rgb' in params:
        return 'rgb' if node.get('to_rgb', params['to_rgb'].default if 'to_rgb' in params
                                 else True) else 'bgr'
    if 'channel_order' in node or 'channel_order' in params:
        return str(node.get('channel_order', params['channel_order'].default
                            if 'channel_order' in params else 'rgb')).lower()
    return 'rgb'


def image_loader_orders(cfg: dict) -> List[Tuple[str, str]]:
    """(config path, 'rgb' / 'bgr') of every image loader (``IMAGE_LOADERS``:
    ``LoadRenderedImage``, ``LoadFrameImage``) in ``cfg``'s dataloaders and
    ``img_test_pipeline``."""
    from mmdet3d.registry import TRANSFORMS
    from ..datasets import transforms  # noqa: F401  (registers the loaders)
    out = []
    for path, node in _parts(cfg, LOADER_KEYS):
        type_name = node.get('type')
        name = type_name.__name__ if isinstance(type_name, type) else type_name
        if name in IMAGE_LOADERS:
            out.append((path, _loader_order(_class(TRANSFORMS, type_name), node)))
    return out


def check_image_channel_order(cfg: dict) -> None:
    """Refuse a config whose image teachers are told another channel order than the one its
    pipelines load the views in (``LoadRenderedImage(to_rgb=...)`` vs the teachers'
    ``channel_order``): the teacher would normalise (and a CLIP teacher flip) the wrong
    channels without any error.

    Raises:
        ValueError: naming every image loader and teacher with their orders and the fix.
    """
    teachers, loaders = image_teacher_orders(cfg), image_loader_orders(cfg)
    orders = {order for _, order in teachers + loaders}
    if not teachers or not loaders or len(orders) == 1:
        return
    listing = '; '.join([f'{p} loads {o.upper()} (to_rgb={o == "rgb"})' for p, o in loaders] +
                        [f'{p} takes {o.upper()} (channel_order={o!r})' for p, o in teachers])
    raise ValueError(
        f'image channel orders disagree: {listing}. Set the loaders (LoadRenderedImage('
        f"to_rgb=...)) and every image teacher's channel_order (for a ClipCapPrefixTeacher: "
        f"its clip=dict(channel_order=...)) to the same order (the reference ReCon loads "
        f"BGR: to_rgb=False, channel_order='bgr').")


def _runner_keys() -> frozenset:
    """Top-level config keys that mmengine's ``Runner`` / ``Runner.from_cfg`` and this
    package's tools read."""
    from mmengine.runner import Runner
    keys = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    keys |= {'runner_type', 'custom_imports', 'sync_bn', 'find_unused_parameters',
             'model_wrapper_cfg', 'activation_checkpointing', 'efficient_conv_bn_eval',
             'compile', 'strategy', 'gpu_ids', 'dist_params', 'vis_backends'}
    return frozenset(keys)


def unknown_option_keys(keys_before: Iterable[str], options: dict) -> List[Tuple[str, str]]:
    """``--cfg-options`` whose top-level key is neither in the config (``keys_before``: its
    top-level keys before the merge, helper variables such as ``num_points`` included) nor
    read by the runner: (option, hint) pairs, the hint naming the closest known key."""
    known = set(keys_before) | _runner_keys()
    unknown = []
    for option in options:
        top = option.split('.')[0]
        if top not in known:
            close = difflib.get_close_matches(top, sorted(known), n=1)
            unknown.append((option, f"did you mean '{close[0]}'?" if close else ''))
    return unknown
