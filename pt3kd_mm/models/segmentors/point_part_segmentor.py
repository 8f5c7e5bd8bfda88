"""Part segmentation with a point-patch transformer encoder (Point-MAE / ACT / ReCon)."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet3d.models.segmentors.base import Base3DSegmentor
from mmdet3d.registry import MODELS
from mmdet3d.structures import PointData
from mmdet3d.structures.det3d_data_sample import OptSampleList, SampleList

from ...utils.shapenet_part import SHAPENET_PART_CATEGORY_PARTS
from ..utils.derived_cfg import derive_part_cfg


@MODELS.register_module()
class PointPartSegmentor(Base3DSegmentor):
    """backbone (blocks ``out_indices``, normed by its final LayerNorm) -> concatenated group
    features -> ``PointPartSegHead`` with the category one-hot -> per-point part logits.

    Training: cross-entropy over every point and all ``num_parts`` labels (the reference).
    Prediction: the argmax over the parts of the shape's category only (the reference's test
    loop: ``argmax(logits[:, seg_classes[cat]]) + seg_classes[cat][0]``).

    Args:
        backbone: a ``PointPatchTransformer`` (Point-MAE, ACT) or ``ReConPointTransformer``
            config with ``out_indices=(3, 7, 11)``.
        decode_head: a ``PointPartSegHead`` config; its ``in_channels``, ``query_channels``,
            ``num_categories`` and ``num_parts`` come from here (set them here only).
        category_parts: part labels of each category (index = category label); default the
            ShapeNetPart table.
        query_feature: add the max over the global queries as the reference ReCon does (the
            queries as the last block outputs them, before the final norm); needs a backbone
            that returns ``query_tokens_unnormed`` (``ReConPointTransformer``).
        data_preprocessor: defaults to ``PointCloudPreprocessor(num_channels=3)``.

    Data samples carry the category label in ``metainfo['category']`` (pack it with
    ``Pack3DDetInputs(meta_keys=(..., 'category'))``) and, for training, the part labels in
    ``gt_pts_seg.pts_semantic_mask``.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 category_parts: Optional[Sequence[Sequence[int]]] = None,
                 query_feature: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='PointCloudPreprocessor', num_channels=3)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        parts = SHAPENET_PART_CATEGORY_PARTS if category_parts is None else category_parts
        parts = [list(map(int, p)) for p in parts]
        labels = sorted(label for p in parts for label in p)
        if not parts or any(not p for p in parts) or labels != list(range(len(labels))):
            raise ValueError('category_parts must give each category a non-empty list of '
                             'part labels, every label 0..num_parts-1 in exactly one category')
        self.query_feature = query_feature
        embed_dims = self.backbone.embed_dims
        facts = dict(
            in_channels=embed_dims * len(self.backbone.out_indices),
            query_channels=embed_dims if query_feature else 0,
            num_categories=len(parts),
            num_parts=len(labels))
        self.decode_head = MODELS.build(
            derive_part_cfg(decode_head, facts, 'model.decode_head', 'model (backbone, '
                            'category_parts, query_feature)'))
        mask = torch.zeros(len(parts), len(labels), dtype=torch.bool)
        for category, category_labels in enumerate(parts):
            mask[category, category_labels] = True
        # (num_categories, num_parts): True where the part belongs to the category
        self.register_buffer('category_part_mask', mask, persistent=False)

    # ------------------------------------------------------------------ features
    def extract_feat(self, points: Tensor) -> Dict[str, Tensor]:
        """points (B, N, 3) -> group_features (B, L * C, G), centers (B, G, 3) and, with
        ``query_feature``, query_feature (B, C)."""
        out = self.backbone(points)
        feats = dict(group_features=torch.cat(out['multi_level_tokens'], dim=-1).transpose(1, 2),
                     centers=out['centers'])
        if self.query_feature:
            if 'query_tokens_unnormed' not in out:
                raise KeyError(f'query_feature=True needs a backbone with global queries '
                               f'(ReConPointTransformer); {type(self.backbone).__name__} '
                               f'returns no query_tokens_unnormed')
            feats['query_feature'] = out['query_tokens_unnormed'].max(dim=1)[0]
        return feats

    @staticmethod
    def categories(batch_data_samples: SampleList, device: torch.device) -> Tensor:
        """(B,) long category labels from ``metainfo['category']``."""
        if not batch_data_samples or any('category' not in s.metainfo
                                         for s in batch_data_samples):
            raise KeyError("PointPartSegmentor needs each data sample's metainfo['category']; "
                           "pack it with Pack3DDetInputs(meta_keys=(..., 'category'))")
        return torch.tensor([int(s.metainfo['category']) for s in batch_data_samples],
                            dtype=torch.long, device=device)

    def encode_decode(self, batch_inputs: dict, batch_data_samples: SampleList) -> Tensor:
        """-> (B, num_parts, N) logits."""
        points = batch_inputs['points'][..., :3].contiguous()
        categories = self.categories(batch_data_samples, points.device)
        if int(categories.max()) >= self.decode_head.num_categories or int(categories.min()) < 0:
            raise ValueError(f'category labels {categories.tolist()} outside '
                             f'0..{self.decode_head.num_categories - 1}')
        one_hot = F.one_hot(categories, self.decode_head.num_categories).to(points.dtype)
        feats = self.extract_feat(points)
        return self.decode_head(points, feats['centers'], feats['group_features'], one_hot,
                                feats.get('query_feature'))

    # ------------------------------------------------------------------ modes
    def loss(self, batch_inputs: dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Cross-entropy over all points (``loss_seg``) and the training accuracy over all
        parts (``acc_seg``, logged only)."""
        logits = self.encode_decode(batch_inputs, batch_data_samples)
        labels = torch.stack([s.gt_pts_seg.pts_semantic_mask for s in batch_data_samples]).to(
            logits.device).long()
        if labels.shape != (logits.shape[0], logits.shape[2]):
            raise ValueError(f'part labels {tuple(labels.shape)} do not match the '
                             f'{logits.shape[0]} x {logits.shape[2]} points')
        with torch.no_grad():
            acc = (logits.argmax(dim=1) == labels).float().mean()
        return dict(loss_seg=self.decode_head.loss(logits, labels), acc_seg=acc)

    def restrict_to_category(self, logits: Tensor, categories: Tensor) -> Tensor:
        """logits (B, P, N), categories (B,) -> (B, N) the argmax over each shape's
        category's parts."""
        allowed = self.category_part_mask[categories].unsqueeze(-1)  # (B, P, 1)
        return logits.masked_fill(~allowed, float('-inf')).argmax(dim=1)

    def predict(self, batch_inputs: dict, batch_data_samples: SampleList) -> SampleList:
        """Sets ``pred_pts_seg.pts_semantic_mask`` (N,) (restricted to the category's parts)
        and ``pts_seg_logits.pts_seg_logits`` (num_parts, N) of every sample."""
        logits = self.encode_decode(batch_inputs, batch_data_samples)
        categories = self.categories(batch_data_samples, logits.device)
        preds = self.restrict_to_category(logits, categories)
        for sample, sample_logits, pred in zip(batch_data_samples, logits, preds):
            sample.set_data(dict(
                pts_seg_logits=PointData(pts_seg_logits=sample_logits),
                pred_pts_seg=PointData(pts_semantic_mask=pred)))
        return batch_data_samples

    def _forward(self, batch_inputs: dict, batch_data_samples: OptSampleList = None) -> Tensor:
        """-> (B, num_parts, N) logits."""
        return self.encode_decode(batch_inputs, batch_data_samples)
