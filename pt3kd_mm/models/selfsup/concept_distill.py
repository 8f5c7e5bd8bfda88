"""Concept distillation: 3D concept tokens regress a frozen 2D teacher's caption prefix."""
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup import BaseSelfSupervisor
from torch import Tensor, nn

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample

from ..teachers import TeacherSet
from ..utils.cached_targets import CachedTargetsMixin
from ..utils.derived_cfg import derive_part_cfg
from ..utils.masking import block_group_mask, num_masked, random_group_mask


class EncodedClouds(NamedTuple):
    """What ``ConceptDistill.encode`` computes (L = G, or the visible groups when masked)."""
    layer_tokens: Tuple[Tensor, ...]  # per encoder layer (B, L, C), final-normed
    tokens: Tensor  # (B, L, C) the encoder's output patch tokens (= layer_tokens[-1])
    centers: Tensor  # (B, L, 3) the encoded groups' centres
    center_indices: Tensor  # (B, L) their centre points' indices into the N input points
    neighborhood: Tensor  # (B, G, K, 3) every group, re-centred
    all_centers: Tensor  # (B, G, 3)
    mask: Optional[Tensor]  # (B, G) bool, True = masked; None without masking


@MODELS.register_module()
class ConceptDistill(CachedTargetsMixin, BaseSelfSupervisor):
    """Concept distillation pre-training from paired images (seed paper: RGB-D frames).

    ``loss()`` reads: teacher target -> encoder (every layer's tokens) -> concept decoder
    (neck) -> head.loss, plus Point-MAE's reconstruction loss when ``reconstruction`` is set.

    * ``alignment='global'`` (default): ``neck`` (``ConceptQueryDecoder``) reads every encoder
      layer; ``head`` (``PrefixAlignHead``) maps the Q concept tokens to the teacher's target
      (ClipCap prefix (10, 768), or the CLIP embedding (512,)). ``neck=None`` is the
      no-concept-extraction ablation: the last layer's patch tokens, pooled to 2 tokens (max,
      mean), go to the same head.
    * ``alignment='local'``: no concept decoder (``neck=None``); ``head`` (``PatchAlignHead``)
      maps each patch token of the last layer to the teacher's patch feature (B, gh * gw, D) of
      the grid cell its centre point projects onto (``points_uv`` / ``points_in_image`` of the
      samples' metainfo); patches whose centre is outside the image are left out of the mean.

    Teacher targets (``img_teacher``, ``TeacherSet`` lazy as ReCon): samples that carry
    ``img_target`` (a teacher feature cache row, flat or shaped; reshaped to the head's
    ``target_shape``) and ``img_target_cache`` use it (the cache's teacher is checked against
    ``img_teacher`` once per cache); otherwise the frozen teacher runs on ``inputs['img']``
    (B, 3, 224, 224), built on first use and kept outside the module tree.

    Args:
        backbone: a ``PointPatchTransformer`` config (exported and fine-tuned as Point-MAE's).
            With a concept decoder, ``out_indices`` is set to every layer (leave it unset;
            another value is an error).
        head: ``PrefixAlignHead`` (global) or ``PatchAlignHead`` (local); ``embed_dims`` and
            ``num_tokens`` are taken from the backbone / neck.
        neck: ``ConceptQueryDecoder`` config, or None (see above); ``embed_dims`` from the
            backbone.
        img_teacher: frozen teacher config (``ClipCapPrefixTeacher``, ``CLIPImageTeacher``);
            may be None when every sample carries a cached target.
        alignment: 'global' or 'local'.
        key_pos: add the backbone's centre position embedding to the concept decoder's keys
            (the encoder adds it before every block; it is no extra parameter).
        reconstruction: ``dict(neck=<PointMAEDecoder>, head=<PointReconstructionHead>)`` adds
            masked point reconstruction (``loss_rec``, Point-MAE's Chamfer loss): the encoder
            then sees the visible groups only, and so do the concept decoder / patch head.
        mask_ratio / mask_type: Point-MAE's masking, used only with ``reconstruction`` (which
            needs 0 < mask_ratio < 1).
        data_preprocessor: defaults to ``PointCloudPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = None,
                 img_teacher: Optional[dict] = None,
                 alignment: str = 'global',
                 key_pos: bool = True,
                 reconstruction: Optional[dict] = None,
                 mask_ratio: float = 0.6,
                 mask_type: str = 'rand',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if alignment not in ('global', 'local'):
            raise ValueError(f"model.alignment must be 'global' or 'local', got {alignment!r}")
        if alignment == 'local' and neck is not None:
            raise ValueError("model.alignment='local' aligns the backbone's patch tokens with "
                             "the teacher's patch features and uses no concept decoder; set "
                             "model.neck=None")
        if mask_type not in ('rand', 'block'):
            raise ValueError(f"model.mask_type must be 'rand' or 'block', got {mask_type!r}")
        explicit_out_indices = isinstance(backbone, nn.Module) or 'out_indices' in backbone
        if not isinstance(backbone, nn.Module):
            backbone = MODELS.build(backbone)
        facts = dict(embed_dims=backbone.embed_dims)
        if neck is not None:
            self.check_out_indices(backbone, explicit_out_indices)
            neck = MODELS.build(derive_part_cfg(neck, facts, 'model.neck', 'model.backbone'))
        head = derive_part_cfg(
            head, dict(facts, num_tokens=neck.num_queries if neck is not None else 2),
            'model.head', 'model.backbone / model.neck (num_queries)')
        super().__init__(
            backbone=backbone, neck=neck, head=head,
            data_preprocessor=data_preprocessor or dict(type='PointCloudPreprocessor'),
            init_cfg=init_cfg)
        self.alignment = alignment
        self.key_pos = key_pos
        self.mask_ratio = mask_ratio if reconstruction is not None else 0.0
        self.mask_type = mask_type
        self.rec_neck = self.rec_head = None
        if reconstruction is not None:
            unknown = set(reconstruction) - {'neck', 'head'}
            if unknown or not {'neck', 'head'} <= set(reconstruction):
                raise KeyError(f'model.reconstruction needs exactly the keys neck (a '
                               f'PointMAEDecoder config) and head (a PointReconstructionHead '
                               f'config), got {sorted(reconstruction)}')
            num_masked(backbone.num_groups, mask_ratio, name='model.mask_ratio')
            rec_facts = dict(facts, group_size=backbone.group_size)
            self.rec_neck = MODELS.build(derive_part_cfg(
                reconstruction['neck'], rec_facts, 'model.reconstruction.neck', 'model.backbone'))
            self.rec_head = MODELS.build(derive_part_cfg(
                reconstruction['head'], rec_facts, 'model.reconstruction.head', 'model.backbone'))
        self.teachers = TeacherSet(dict(img=img_teacher), lazy=True)
        self._checked_caches: Set[str] = set()

    @staticmethod
    def check_out_indices(backbone: nn.Module, explicit: bool) -> None:
        """The concept decoder reads every encoder layer: set the backbone's ``out_indices`` to
        all of them when its config leaves them unset (more tokens returned, no parameter
        changes); refuse another explicit value (or a built backbone with another value)."""
        every = tuple(range(backbone.depth))
        if backbone.out_indices == every:
            return
        if explicit:
            raise ValueError(f'model.backbone.out_indices = {backbone.out_indices} but the '
                             f'concept decoder reads every one of the {backbone.depth} layers; '
                             f'leave out_indices unset (ConceptDistill sets it) or set it to '
                             f'{every}')
        backbone.out_indices = every

    # ------------------------------------------------------------------ encoder
    def generate_mask(self, centers: Tensor) -> Tensor:
        """centers (B, G, 3) -> mask (B, G) bool, True = masked (as ``PointMAE``)."""
        if self.mask_type == 'block':
            return block_group_mask(centers, self.mask_ratio)
        return random_group_mask(centers.shape[0], centers.shape[1], self.mask_ratio,
                                 device=centers.device)

    def encode(self, points: Tensor, masked: bool) -> EncodedClouds:
        """points (B, N, 3) -> group -> (mask ->) encoder on the (visible) groups, keeping
        every layer's tokens (see ``EncodedClouds``). The same steps as
        ``PointPatchTransformer.forward`` / ``forward_visible``."""
        backbone = self.backbone
        neighborhood, centers, _, center_idx = backbone.group(points)
        mask = self.generate_mask(centers) if masked else None
        if mask is None:
            tokens, vis_centers, vis_idx = backbone.patch_embed(neighborhood), centers, \
                center_idx
        else:
            tokens, vis_centers = backbone.embed_visible(neighborhood, centers, mask)
            vis_idx = center_idx[~mask].reshape(center_idx.shape[0], -1)
        x, layer_tokens = backbone.encode(tokens, vis_centers)
        _, x = backbone.split_prefix(x)
        return EncodedClouds(tuple(layer_tokens), x, vis_centers, vis_idx, neighborhood, centers,
                             mask)

    def extract_feat(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Encoder features of whole clouds (``mode='tensor'``), see
        ``PointPatchTransformer.forward``."""
        return self.backbone(inputs['points'])

    # ------------------------------------------------------------------ alignment
    def student_tokens(self, enc: EncodedClouds) -> Tensor:
        """What the head reads: global alignment: the concept tokens (B, Q, C), or without a
        concept decoder the patch tokens pooled to (B, 2, C) = [max, mean]; local alignment:
        the patch tokens (B, L, C)."""
        if self.alignment == 'local':
            return enc.tokens
        if self.with_neck:
            key_pos = self.backbone.pos_embed(enc.centers) if self.key_pos else None
            return self.neck(enc.layer_tokens, key_pos)
        return torch.stack([enc.tokens.max(dim=1).values, enc.tokens.mean(dim=1)], dim=1)

    def patch_uv(self, enc: EncodedClouds, data_samples: Optional[List],
                 num_points: int) -> Tuple[Tensor, Tensor]:
        """The encoded patch centres' image coordinates (B, L, 2) and whether they are inside
        the image (B, L) bool, from the samples' ``points_uv`` (N, 2) / ``points_in_image``
        (N,) metainfo."""
        device = enc.center_indices.device
        per_key = {}
        for key in ('points_uv', 'points_in_image'):
            values = [s.metainfo.get(key) for s in (data_samples or [])]
            if not values or any(v is None for v in values):
                raise KeyError(f"ConceptDistill (alignment='local'): the samples carry no "
                               f"{key!r}; add ProjectPointsToImage to the pipeline and "
                               f"'points_uv', 'points_in_image' to Pack3DDetInputs' meta_keys")
            value = torch.stack([torch.as_tensor(np.asarray(v)) for v in values]).to(device)
            if value.shape[1] != num_points:
                raise ValueError(f'ConceptDistill: {key} has {value.shape[1]} rows per sample '
                                 f'but the clouds have {num_points} points; project the points '
                                 f'after the last transform that drops or reorders points')
            per_key[key] = value
        idx = enc.center_indices
        uv = per_key['points_uv'].float().gather(1, idx.unsqueeze(-1).expand(-1, -1, 2))
        inside = per_key['points_in_image'].bool().gather(1, idx)
        return uv, inside

    def teacher_targets(self, inputs: Dict[str, Tensor],
                        data_samples: Optional[List]) -> Tensor:
        """(B, *head.target_shape) targets: the samples' cached ``img_target`` rows (reshaped),
        else the teacher's output on ``inputs['img']``."""
        shape = tuple(self.head.target_shape)
        device = inputs['points'].device
        samples = data_samples or []
        cached = self.cached_targets('img', samples, device, shape)
        if cached is not None:
            return cached
        if not self.teachers.configured('img'):
            raise ValueError('ConceptDistill: the samples carry no cached img_target and no '
                             'img_teacher is configured; set model.img_teacher or load cached '
                             'features with LoadTeacherFeatures')
        if 'img' not in inputs:
            raise KeyError("ConceptDistill: no inputs['img'] for the image teacher; load the "
                           "frames' images and pack them with "
                           "Pack3DDetInputs(keys=['points', 'img'])")
        teacher = self.teachers['img']
        if self.alignment == 'local':
            grid = tuple(getattr(teacher, 'grid_size', ()))
            if grid != tuple(self.head.grid_size):
                raise ValueError(f'ConceptDistill: the teacher\'s patch grid_size is {grid or None}'
                                 f' but model.head.grid_size = {tuple(self.head.grid_size)}; '
                                 f"local alignment needs a patch-token teacher (e.g. "
                                 f"CLIPImageTeacher(output='patch_tokens')) and its grid")
        target = teacher(inputs['img']).float()
        if tuple(target.shape[1:]) != shape:
            raise ValueError(f'ConceptDistill: the teacher outputs {tuple(target.shape[1:])} per '
                             f'sample but the head predicts {shape}; set the head\'s target '
                             f'shape to the teacher\'s')
        return target

    def aligned_pairs(self, enc: EncodedClouds, target: Tensor, data_samples: Optional[List],
                      num_points: int) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """(student tokens for the head, target, valid) where local alignment picks each
        patch's target (B, L, D) and valid (B, L); global: the target as given, valid None."""
        tokens = self.student_tokens(enc)
        if self.alignment == 'global':
            return tokens, target, None
        uv, valid = self.patch_uv(enc, data_samples, num_points)
        return tokens, self.head.patch_targets(target, uv), valid

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """'tensor': encoder features; 'loss': loss dict; 'predict': samples with their
        distillation error."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, Tensor]:
        """``loss_distill`` (+ ``loss_rec`` with reconstruction)."""
        points = inputs['points']
        target = self.teacher_targets(inputs, data_samples)
        enc = self.encode(points, masked=self.rec_neck is not None)
        tokens, target, valid = self.aligned_pairs(enc, target, data_samples, points.shape[1])
        losses = dict(loss_distill=self.head.loss(tokens, target) if valid is None
                      else self.head.loss(tokens, target, valid))
        if self.rec_neck is not None:
            batch = points.shape[0]
            masked_groups = enc.neighborhood[enc.mask].reshape(
                batch, -1, *enc.neighborhood.shape[2:])
            decoded = self.rec_neck(enc.tokens, enc.all_centers, enc.mask)
            losses['loss_rec'] = self.rec_head.loss(decoded, masked_groups)
        return losses

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                **kwargs) -> List:
        """Distil whole (unmasked) clouds and attach per sample ``distill_mse`` (mean squared
        error of the head's prediction vs the target over its elements; local: over the
        in-image patches) and ``distill_cosine`` (cosine of the two, flattened) to the
        metainfo, for ``DistillationErrorMetric``. A sample without any in-image patch (local)
        gets NaN."""
        points = inputs['points']
        target = self.teacher_targets(inputs, data_samples)
        enc = self.encode(points, masked=False)
        tokens, target, valid = self.aligned_pairs(enc, target, data_samples, points.shape[1])
        pred = self.head(tokens).float()
        mse, cosine = per_sample_errors(pred, target, valid)
        if data_samples is None:
            data_samples = [Det3DDataSample() for _ in range(points.shape[0])]
        for sample, m, c in zip(data_samples, mse.tolist(), cosine.tolist()):
            sample.set_metainfo(dict(distill_mse=m, distill_cosine=c))
        return data_samples


def per_sample_errors(pred: Tensor, target: Tensor,
                      valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Per-sample mean squared error and cosine similarity.

    Args:
        pred, target: (B, ...) the same shape; with ``valid``: (B, L, D).
        valid: (B, L) bool, the rows that count, or None (all).

    Returns:
        mse (B,), cosine (B,) of the flattened (valid) elements; NaN for a sample without any
        valid row.
    """
    batch = pred.shape[0]
    pred, target = pred.reshape(batch, -1, pred.shape[-1]), \
        target.reshape(batch, -1, target.shape[-1]).to(pred.dtype)
    weight = torch.ones(pred.shape[:2], dtype=pred.dtype, device=pred.device) if valid is None \
        else valid.to(pred.dtype)
    count = weight.sum(1) * pred.shape[-1]
    nan = torch.full_like(count, float('nan'))
    mse = ((pred - target).pow(2) * weight.unsqueeze(-1)).flatten(1).sum(1)
    mse = torch.where(count > 0, mse / count.clamp(min=1), nan)
    w = weight.unsqueeze(-1)
    cosine = F.cosine_similarity((pred * w).flatten(1), (target * w).flatten(1), dim=1)
    return mse, torch.where(count > 0, cosine, nan)
