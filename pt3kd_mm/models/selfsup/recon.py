"""ReCon: masked point reconstruction + global queries aligned with frozen 2D / text teachers."""
from typing import Dict, List, Optional, Set

import torch
from torch import Tensor

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample

from ..teachers import TeacherSet
from ..utils.cached_targets import CachedTargetsMixin
from ..utils.derived_cfg import derive_part_cfg
from .point_mae import PointMAE


@MODELS.register_module()
class ReCon(CachedTargetsMixin, PointMAE):
    """ReCon pre-training (contrast with reconstruct).

    ``loss()`` reads: group -> mask (0.6) -> ``ReConPointTransformer`` on the visible groups
    (local tokens + cls / img / text queries) -> decoder -> Chamfer-L2 on the masked groups
    (``head``); img query -> ``img_head`` vs the image teacher's feature of the rendered view;
    text query -> ``text_head`` vs the text teacher's feature of the category prompt.

    Teacher targets: a sample that carries ``img_target`` / ``text_target`` (from a teacher
    feature cache, see ``LoadTeacherFeatures``) uses it and the teacher never runs (the cache
    must come from the configured teacher and checkpoint: checked once per cache); otherwise
    the frozen teacher is built on first use (``TeacherSet``: outside the module tree, never in
    checkpoints, the optimiser or DDP) and run on ``inputs['img']`` / the samples' ``text``.

    Args:
        backbone: a ``ReConPointTransformer`` config (3 queries: cls, img, text).
        neck / head: the Point-MAE decoder and reconstruction head.
        img_head / text_head: ``GlobalAlignHead`` configs (SmoothL1 or InfoNCE, loss weights).
        img_teacher / text_teacher: frozen teacher configs (``ViTImageTeacher`` /
            ``CLIPImageTeacher``, ``CLIPTextTeacher``); may be None when every sample carries
            cached targets.
        zero_shot_text_weight: ``predict`` embeds a cloud as
            ``img_head(img query) + zero_shot_text_weight * text_head(text query)`` (0.25).
        Others as ``PointMAE``.
    """

    QUERIES = ('cls', 'img', 'text')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 img_head: dict,
                 text_head: dict,
                 img_teacher: Optional[dict] = None,
                 text_teacher: Optional[dict] = None,
                 mask_ratio: float = 0.6,
                 mask_type: str = 'rand',
                 zero_shot_text_weight: float = 0.25,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone, neck, head, mask_ratio, mask_type, data_preprocessor,
                         init_cfg)
        if self.backbone.num_prefix_tokens != len(self.QUERIES):
            raise ValueError(f'ReCon needs a backbone with {len(self.QUERIES)} global queries '
                             f'(cls, img, text), got {self.backbone.num_prefix_tokens}')
        facts = self.backbone_facts(self.backbone)
        self.img_head = MODELS.build(
            derive_part_cfg(img_head, facts, 'model.img_head', 'model.backbone'))
        self.text_head = MODELS.build(
            derive_part_cfg(text_head, facts, 'model.text_head', 'model.backbone'))
        self.teachers = TeacherSet(dict(img=img_teacher, text=text_teacher), lazy=True)
        self.zero_shot_text_weight = zero_shot_text_weight
        self._checked_caches: Set[str] = set()

    # ------------------------------------------------------------------ teachers
    def teacher_targets(self, name: str, inputs: Dict[str, Tensor],
                        data_samples: Optional[List[Det3DDataSample]]) -> Tensor:
        """(B, C_teacher) targets of the ``name`` query: cached in the samples, else the
        teacher's output."""
        samples = data_samples or []
        cached = self.cached_targets(name, samples, inputs['points'].device)
        if cached is not None:
            return cached
        if not self.teachers.configured(name):
            raise ValueError(
                f'ReCon: the samples carry no cached {name}_target and no {name}_teacher '
                f'is configured; set model.{name}_teacher or load cached features with '
                f'LoadTeacherFeatures (tools/cache_teacher_features.py)')
        teacher = self.teachers[name]
        if name == 'img':
            if 'img' not in inputs:
                raise KeyError("ReCon: no inputs['img'] for the image teacher; load the rendered "
                               "views (LoadRenderedImage) and pack them with "
                               "Pack3DDetInputs(keys=['points', 'img'])")
            return teacher(inputs['img']).float()
        texts = [s.metainfo.get('text') for s in samples]
        if not texts or any(t is None for t in texts):
            raise KeyError("ReCon: the samples carry no 'text' for the text teacher; add "
                           "RandomTextPrompt to the pipeline and 'text' to Pack3DDetInputs' "
                           "meta_keys")
        return teacher(texts).float()

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, Tensor]:
        out = self.masked_forward(inputs['points'])
        queries = out.prefix_tokens
        return dict(
            loss_rec=self.head.loss(out.masked_tokens, self.masked_groups(out)),
            loss_img=self.img_head.loss(queries[:, 1],
                                        self.teacher_targets('img', inputs, data_samples)),
            loss_text=self.text_head.loss(queries[:, 2],
                                          self.teacher_targets('text', inputs, data_samples)))

    def zero_shot_embedding(self, points: Tensor) -> Tensor:
        """points (B, N, 3) -> (B, C_teacher) embedding of whole clouds for zero-shot
        classification: ``img_head(img query) + w * text_head(text query)``."""
        queries = self.backbone(points)['query_tokens']
        return self.img_head(queries[:, 1]) + \
            self.zero_shot_text_weight * self.text_head(queries[:, 2])

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                **kwargs) -> List:
        """Attach each cloud's ``zero_shot_embedding`` (C_teacher,) to its sample (metainfo),
        for ``ZeroShotAccuracy``."""
        embedding = self.zero_shot_embedding(inputs['points']).float().cpu().numpy()
        if data_samples is None:
            data_samples = [Det3DDataSample() for _ in range(len(embedding))]
        for sample, emb in zip(data_samples, embedding):
            sample.set_metainfo(dict(zero_shot_embedding=emb))
        return data_samples
