"""3DETR (Misra et al., "An End-to-End Transformer Model for 3D Object Detection", ICCV 2021)
as an mmdet3d detector whose encoder is any registered point encoder."""
from typing import Dict, List, Optional, Union

import torch
from torch import Tensor

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList


@MODELS.register_module()
class ThreeDETR(Base3DDetector):
    """Encoder (``backbone``) -> ``ThreeDETRHead`` (projection, queries, decoder, boxes).

    The backbone is any registered point encoder whose ``forward(points (B, N, 3+))``
    returns ``tokens`` (B, M, C) and their ``centers`` (B, M, 3): ``ThreeDETREncoder`` (the
    original encoder, the from-scratch baseline) or pt3kd_mm's ``PointPatchTransformer`` /
    ``ReConPointTransformer``, whose pre-trained weights come through
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. The head's
    ``in_channels`` is taken from the backbone's ``embed_dims``.

    Args:
        backbone: the encoder config.
        bbox_head: the ``ThreeDETRHead`` config.
        data_preprocessor: usually ``Det3DDataPreprocessor``.
        train_cfg / test_cfg: unused here (the head holds its matcher and post-processing);
            accepted for mmdet3d's config conventions.
    """

    def __init__(self,
                 backbone: dict,
                 bbox_head: dict,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        embed_dims = getattr(self.backbone, 'embed_dims', None)
        if embed_dims is None:
            raise AttributeError(f'model.backbone ({type(self.backbone).__name__}) has no '
                                 f'embed_dims attribute, the width of its tokens')
        bbox_head = dict(bbox_head)
        if bbox_head.get('in_channels', embed_dims) != embed_dims:
            raise ValueError(f'model.bbox_head.in_channels = {bbox_head["in_channels"]} but '
                             f'model.backbone.embed_dims = {embed_dims}; leave in_channels '
                             f'unset: the head takes it from the backbone')
        bbox_head['in_channels'] = embed_dims
        self.bbox_head = MODELS.build(bbox_head)

    @staticmethod
    def stack_points(batch_inputs_dict: dict) -> Tensor:
        """The batch's clouds as one (B, N, C) tensor (all scenes must have N points)."""
        points = batch_inputs_dict['points']
        if isinstance(points, Tensor):
            return points
        sizes = sorted({p.shape[0] for p in points})
        if len(sizes) > 1:
            raise ValueError(f'ThreeDETR: the scenes of a batch have different numbers of '
                             f'points {sizes}; sample a fixed number per scene (PointSample)')
        return torch.stack(points)

    def extract_feat(self, batch_inputs_dict: dict) -> Dict[str, Tensor]:
        """-> dict(points (B, N, C), tokens (B, M, C'), centers (B, M, 3))."""
        points = self.stack_points(batch_inputs_dict)
        if not torch.isfinite(points[..., :3]).all():
            raise ValueError('ThreeDETR: NaN or infinite point coordinates in the batch')
        out = self.backbone(points)
        return dict(points=points, tokens=out['tokens'], centers=out['centers'])

    def loss(self, batch_inputs_dict: dict, batch_data_samples: SampleList,
             **kwargs) -> Dict[str, Tensor]:
        feats = self.extract_feat(batch_inputs_dict)
        return self.bbox_head.loss(feats['tokens'], feats['centers'], feats['points'],
                                   [s.gt_instances_3d for s in batch_data_samples])

    def predict(self, batch_inputs_dict: dict, batch_data_samples: SampleList,
                **kwargs) -> SampleList:
        feats = self.extract_feat(batch_inputs_dict)
        results = self.bbox_head.predict(feats['tokens'], feats['centers'], feats['points'])
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs_dict: dict,
                 batch_data_samples: Optional[SampleList] = None,
                 **kwargs) -> List[Dict[str, Tensor]]:
        """Raw per-layer head outputs (``mode='tensor'``)."""
        feats = self.extract_feat(batch_inputs_dict)
        points = feats['points'][..., :3]
        return self.bbox_head(feats['tokens'], feats['centers'], points.amin(1),
                              points.amax(1))['layers']
