"""One place for each fact of a model config: parts take shared sizes from their source."""
import inspect
from typing import Any, Dict, Union

from torch import nn

from mmdet3d.registry import MODELS


def derive_part_cfg(cfg: Union[dict, nn.Module], facts: Dict[str, Any], part: str,
                    source: str) -> Union[dict, nn.Module]:
    """Fill ``facts`` (e.g. ``embed_dims``, ``group_size`` of the backbone) into the config of a
    model part that takes them, so a child config sets each of them in one place.

    A fact the part's class does not take is skipped. A fact the part's config (or built
    module) already sets to another value is an error naming both keys, so two facts that must
    agree can never silently differ (e.g. a head predicting 32 points per group of a backbone
    grouping 16).

    Args:
        cfg: the part's config (a copy is returned) or a built module (checked only).
        facts: ``{argument name: value}`` from the source.
        part: the part's config key for messages, e.g. ``'model.head'``.
        source: the source's config key for messages, e.g. ``'model.backbone'``.

    Returns:
        The config with the facts filled in (or the module).
    """
    if isinstance(cfg, nn.Module):
        for key, value in facts.items():
            if hasattr(cfg, key) and getattr(cfg, key) != value:
                raise ValueError(f'{part}.{key} = {getattr(cfg, key)} but {source}.{key} = '
                                 f'{value}; they must agree')
        return cfg
    cfg = dict(cfg)
    cls = cfg['type'] if inspect.isclass(cfg['type']) else MODELS.get(cfg['type'])
    if cls is None:
        raise KeyError(f'{part}: {cfg["type"]!r} is not a registered model class')
    params = inspect.signature(cls).parameters
    for key, value in facts.items():
        if key not in params:
            continue
        if key in cfg and cfg[key] != value:
            raise ValueError(
                f'{part}.{key} = {cfg[key]} but {source}.{key} = {value}; they must agree. '
                f'Set {key} only on {source}: {part} takes it from there.')
        cfg[key] = value
    return cfg
