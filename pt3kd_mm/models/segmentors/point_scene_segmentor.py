"""Semantic segmentation of scenes (ScanNetV2) with a pre-trained point-patch encoder."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.config import ConfigDict
from torch import Tensor

from mmdet3d.models.segmentors import EncoderDecoder3D
from mmdet3d.registry import MODELS

from ..utils.derived_cfg import derive_part_cfg
from .scene_chunks import plan_scene_chunks

TEST_MODES = ('chunk', 'slide', 'whole')
# keys each test mode reads from test_cfg
_TEST_KEYS = dict(
    chunk=('num_points', 'block_size', 'sample_rate', 'use_normalized_coord', 'batch_size'),
    slide=('num_points', 'block_size', 'sample_rate', 'use_normalized_coord', 'batch_size'),
    whole=())


@MODELS.register_module()
class PointSceneSegmentor(EncoderDecoder3D):
    """mmdet3d's ``EncoderDecoder3D`` around a point-patch transformer: the encoder groups the
    xyz of each block (``num_groups`` x ``group_size``), the decode head
    (``PointSceneSegHead``) propagates the tokens of its ``out_indices`` blocks back to every
    point and classifies them. Training and losses are ``EncoderDecoder3D``'s (blocks of
    ``IndoorPatchPointSample``, the head's cross-entropy with ``ignore_index``).

    Whole scenes at test time (``test_cfg.mode``):

    * ``'chunk'`` (default): every point predicted exactly once, from the ``block_size`` window
      around its ``block_size * sample_rate`` cell (``scene_chunks.plan_scene_chunks``), in
      passes of ``num_points``; ``seed`` (default 0) makes the context draws reproducible.
    * ``'slide'``: mmdet3d's overlapping windows, logits averaged over the passes covering a
      point.
    * ``'whole'``: the scene in one pass (only for scenes of about ``num_points`` points).

    Args:
        backbone: ``PointPatchTransformer`` / ``ReConPointTransformer`` config with
            ``out_indices`` (e.g. (3, 7, 11)); it reads xyz only.
        decode_head: ``PointSceneSegHead`` config; its ``in_channels`` comes from the backbone.
        freeze_backbone: the linear-probe protocol: the encoder's parameters get no gradient,
            it runs in eval mode (BatchNorm statistics and drop path fixed) and without autograd,
            so its weights and buffers stay bit-identical; only the head learns.
        train_cfg, test_cfg, data_preprocessor, init_cfg: as ``EncoderDecoder3D``.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 freeze_backbone: bool = False,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if test_cfg is None:
            test_cfg = dict(mode='chunk', num_points=8192, block_size=1.5, sample_rate=0.5,
                            use_normalized_coord=False, batch_size=8)
        mode = test_cfg.get('mode')
        if mode not in TEST_MODES:
            raise ValueError(f'model.test_cfg.mode must be one of {TEST_MODES}, got {mode!r}')
        missing = [k for k in _TEST_KEYS[mode] if k not in test_cfg]
        if missing:
            raise KeyError(f'model.test_cfg (mode {mode!r}) lacks {missing}')
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            train_cfg=train_cfg,
            test_cfg=ConfigDict(test_cfg),
            data_preprocessor=data_preprocessor or dict(type='Det3DDataPreprocessor'),
            init_cfg=init_cfg)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def _init_decode_head(self, decode_head: dict) -> None:
        """Build the head with ``in_channels`` = embed_dims x number of ``out_indices``."""
        in_channels = self.backbone.embed_dims * len(self.backbone.out_indices)
        self.decode_head = MODELS.build(derive_part_cfg(
            decode_head, dict(in_channels=in_channels), 'model.decode_head',
            'model.backbone (embed_dims x len(out_indices))'))
        self.num_classes = self.decode_head.num_classes

    def train(self, mode: bool = True) -> 'PointSceneSegmentor':
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def extract_feat(self, batch_inputs: Tensor) -> Dict[str, Union[Tensor, tuple]]:
        """points (B, N, 3 + C) (xyz first) -> the backbone's dict (``centers``,
        ``multi_level_tokens``, ...) plus ``points``, the input (the head's skip features)."""
        if batch_inputs.dim() != 3 or batch_inputs.shape[-1] < 3:
            raise ValueError(f'expected points (B, N, 3 + C), got {tuple(batch_inputs.shape)}')
        xyz = batch_inputs[..., :3].contiguous()
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            feats = dict(self.backbone(xyz))
        feats['points'] = batch_inputs
        return feats

    def inference(self, points: Tensor, batch_input_metas: List[dict], rescale: bool) -> Tensor:
        """points (B, N, 3 + C) -> logits (B, num_classes, N) by ``test_cfg.mode``."""
        if self.test_cfg.mode != 'chunk':
            return super().inference(points, batch_input_metas, rescale)
        return torch.stack([self.chunk_inference(point, meta)
                            for point, meta in zip(points, batch_input_metas)])

    def chunk_inference(self, point: Tensor, input_meta: dict) -> Tensor:
        """One scene (N, 3 + C) -> logits (num_classes, N), each point predicted once (see the
        class docstring)."""
        cfg = self.test_cfg
        num_points = cfg.num_points
        coords, feats = point[:, :3], point[:, 3:]
        coord_max = coords.max(dim=0)[0]
        generator = torch.Generator().manual_seed(int(cfg.get('seed', 0)))
        chunks = plan_scene_chunks(coords[:, :2], num_points, cfg.block_size,
                                   cfg.block_size * cfg.sample_rate, generator=generator)
        logits = point.new_empty(point.shape[0], self.num_classes)
        for start in range(0, len(chunks), cfg.batch_size):
            batch = chunks[start:start + cfg.batch_size]
            inputs = []
            for chunk in batch:
                idx = chunk.sample_idx.to(point.device)
                center = torch.cat([chunk.center_xy, chunk.center_xy.new_zeros(1)]).to(point)
                inputs.append(self._input_generation(coords[idx], center, coord_max, feats[idx],
                                                     cfg.use_normalized_coord))
            out = self.encode_decode(torch.stack(inputs), [input_meta] * len(batch))
            for chunk, chunk_logits in zip(batch, out):
                rows = chunk.target_rows.to(point.device)
                logits[chunk.sample_idx.to(point.device)[rows]] = chunk_logits[:, rows].t()
        return logits.t()
