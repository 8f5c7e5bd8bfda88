"""Object classification with a point-patch transformer: the fine-tuning model of Point-MAE,
ACT and ReCon (their ``PointTransformer``)."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..utils.derived_cfg import derive_part_cfg
from .voting import vote_logits

VOTE_KEYS = ('num_votes', 'num_points', 'scale_range', 'translate_range', 'rotate_up_axis')


@MODELS.register_module()
class PointClassifier(BaseModel):
    """Backbone -> concat(prefix tokens (CLS, or ReCon's cls / img / text queries), max-pool of
    the patch tokens) -> an mmpretrain classification head.

    ``loss()`` reads: backbone -> global feature -> ``head.loss`` (mmpretrain ``DataSample``
    ``gt_label``, as ``PackPointClsInputs`` packs it). ``predict()`` sets ``pred_score`` /
    ``pred_label`` for mmpretrain's ``Accuracy``.

    Args:
        backbone: ``PointPatchTransformer(with_cls_token=True)`` (Point-MAE, ACT) or
            ``ReConPointTransformer(detach_local=False)`` config (or module).
        head: an mmpretrain head config, e.g. ``mmpretrain.StackedLinearClsHead`` (the
            reference's MLP: 256, 256, BN, ReLU, dropout 0.5) or ``mmpretrain.LinearClsHead``;
            ``in_channels`` comes from the backbone: ``(prefix tokens + 1) * embed_dims``.
        freeze_backbone: the reference's linear / MLP-3 protocols: every backbone parameter is
            frozen except those the reference keeps trainable by name ('cls' in the name): the
            CLS token and its position (ReCon: the cls row of the query tokens and positions;
            the img / text rows get no gradient). The backbone still runs in train mode
            (BatchNorm batch statistics, drop path), as in the reference.
        vote: test-time voting (``vote_logits``), e.g. ``dict(num_votes=10, num_points=1024,
            scale_range=(2 / 3, 3 / 2), translate_range=0.2)``; None scores the input once.
        data_preprocessor: defaults to ``PointCloudPreprocessor``.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 head: dict,
                 freeze_backbone: bool = False,
                 vote: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='PointCloudPreprocessor'),
            init_cfg=init_cfg)
        self.backbone = backbone if isinstance(backbone, nn.Module) else MODELS.build(backbone)
        in_channels = (self.backbone.num_prefix_tokens + 1) * self.backbone.embed_dims
        self.head = MODELS.build(
            derive_part_cfg(head, dict(in_channels=in_channels), 'model.head', 'model.backbone'))
        if vote is not None:
            unknown = sorted(set(vote) - set(VOTE_KEYS))
            if unknown or 'num_votes' not in vote or 'num_points' not in vote:
                raise ValueError(f'vote takes {VOTE_KEYS} (num_votes and num_points required), '
                                 f'got {sorted(vote)}')
        self.vote = dict(vote) if vote is not None else None
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self._freeze_backbone()

    def _freeze_backbone(self) -> None:
        """requires_grad=False on the backbone except the CLS token / position (see class)."""
        self.backbone.requires_grad_(False)
        if getattr(self.backbone, 'with_cls_token', False):
            self.backbone.cls_token.requires_grad_(True)
            self.backbone.cls_pos.requires_grad_(True)
        elif hasattr(self.backbone, 'query_tokens'):
            # one parameter holds the cls / img / text queries: train row 0 only
            for param in (self.backbone.query_tokens, self.backbone.query_pos):
                param.requires_grad_(True)
                row_mask = torch.zeros(1, param.shape[1], 1)
                row_mask[:, 0] = 1
                param.register_hook(lambda grad, m=row_mask: grad * m.to(grad))
        else:
            raise ValueError(f'{type(self.backbone).__name__} has no CLS token to keep '
                             f'trainable; freeze_backbone follows the reference, whose '
                             f'encoders have one')

    def extract_feat(self, points: Tensor) -> Tuple[Tensor]:
        """points (B, N, 3) -> (global feature (B, (P + 1) * C), ): the P prefix tokens (CLS /
        queries, in order) then the max over the patch tokens."""
        out = self.backbone(points)
        parts = [out['prefix_tokens'].flatten(1)] if 'prefix_tokens' in out else []
        parts.append(out['tokens'].max(dim=1)[0])
        return (torch.cat(parts, dim=-1), )

    def logits(self, points: Tensor) -> Tensor:
        """points (B, N, 3) -> (B, num_classes) logits of one view."""
        return self.head(self.extract_feat(points))

    def forward(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """'tensor': logits (B, num_classes); 'loss': the head's loss dict; 'predict': the
        samples with ``pred_score`` / ``pred_label``."""
        if mode == 'tensor':
            return self.logits(inputs['points'])
        if mode == 'loss':
            return self.head.loss(self.extract_feat(inputs['points']), data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; use tensor, loss or predict')

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None) -> List:
        """Score the clouds (averaging ``vote`` views when set) and attach ``pred_score``
        (softmax) and ``pred_label`` to each sample."""
        points = inputs['points']
        if self.vote is None:
            logits = self.logits(points)
        else:
            logits = vote_logits(self.logits, points, **self.vote)
        if data_samples is None:
            from mmpretrain.structures import DataSample
            data_samples = [DataSample() for _ in range(logits.shape[0])]
        scores = F.softmax(logits, dim=1)
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score).set_pred_label(score.argmax(dim=0, keepdim=True))
        return data_samples
