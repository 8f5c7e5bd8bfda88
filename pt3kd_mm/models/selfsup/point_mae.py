"""Point-MAE: masked point modelling with a Chamfer reconstruction target."""
from typing import Dict, List, NamedTuple, Optional

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from torch import Tensor, nn

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample

from ..losses import chamfer_distance
from ..utils.derived_cfg import derive_part_cfg
from ..utils.masking import block_group_mask, num_masked, random_group_mask


class MaskedForward(NamedTuple):
    """What ``PointMAE.masked_forward`` computes."""
    neighborhood: Tensor  # (B, G, K, 3) re-centred groups
    centers: Tensor  # (B, G, 3)
    mask: Tensor  # (B, G) bool, True = masked
    masked_tokens: Tensor  # (B, G_mask, C) decoded tokens of the masked groups
    prefix_tokens: Tensor  # (B, P, C) the encoder's CLS / global queries (P may be 0)


@MODELS.register_module()
class PointMAE(BaseSelfSupervisor):
    """Point-MAE pre-training.

    ``loss()`` reads: group -> mask -> encoder on visible groups -> decoder (neck) -> head.loss.

    Args:
        backbone: a ``PointPatchTransformer`` config.
        neck: a ``PointMAEDecoder`` config.
        head: a ``PointReconstructionHead`` config.
        The neck and head take ``embed_dims`` and ``group_size`` from the backbone (set them
        there only; a part that sets another value is an error).
        mask_ratio: fraction of groups hidden per cloud, 0 < mask_ratio < 1 with at least one
            group hidden (checked here against ``backbone.num_groups``).
        mask_type: 'rand' (uniform) or 'block' (the groups nearest to a random centre).
        data_preprocessor: defaults to ``PointCloudPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 mask_ratio: float = 0.6,
                 mask_type: str = 'rand',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if mask_type not in ('rand', 'block'):
            raise ValueError(f"mask_type must be 'rand' or 'block', got {mask_type!r}")
        if not isinstance(backbone, nn.Module):
            backbone = MODELS.build(backbone)
        num_masked(backbone.num_groups, mask_ratio, name='model.mask_ratio')
        neck = derive_part_cfg(neck, self.backbone_facts(backbone), 'model.neck',
                               'model.backbone')
        head = derive_part_cfg(head, self.backbone_facts(backbone), 'model.head',
                               'model.backbone')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor or dict(type='PointCloudPreprocessor'),
            init_cfg=init_cfg)
        self.mask_ratio = mask_ratio
        self.mask_type = mask_type

    @staticmethod
    def backbone_facts(backbone: nn.Module) -> Dict[str, int]:
        """The backbone's sizes that the other parts take (``derive_part_cfg``)."""
        return dict(embed_dims=backbone.embed_dims, group_size=backbone.group_size)

    def generate_mask(self, centers: Tensor) -> Tensor:
        """centers (B, G, 3) -> mask (B, G) bool, True = masked."""
        if self.mask_type == 'block':
            return block_group_mask(centers, self.mask_ratio)
        return random_group_mask(centers.shape[0], centers.shape[1], self.mask_ratio,
                                 device=centers.device)

    def forward(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """'tensor': encoder features; 'loss': loss dict; 'predict': samples with their
        masked reconstruction error."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def extract_feat(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Encoder features of whole clouds (``mode='tensor'``)."""
        return self.backbone(inputs['points'])

    def masked_forward(self, points: Tensor) -> MaskedForward:
        """group -> mask -> encoder on the visible groups -> decoder (see ``MaskedForward``)."""
        neighborhood, centers, _, _ = self.backbone.group(points)
        mask = self.generate_mask(centers)
        encoded = self.backbone.forward_visible(neighborhood, centers, mask)
        prefix_tokens, visible_tokens = self.backbone.split_prefix(encoded)
        return MaskedForward(neighborhood, centers, mask,
                             self.neck(visible_tokens, centers, mask), prefix_tokens)

    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, Tensor]:
        out = self.masked_forward(inputs['points'])
        return dict(loss=self.head.loss(out.masked_tokens, self.masked_groups(out)))

    @staticmethod
    def masked_groups(out: MaskedForward) -> Tensor:
        """The true points of the masked groups, (B, G_mask, K, 3)."""
        return out.neighborhood[out.mask].reshape(out.mask.shape[0], -1,
                                                  *out.neighborhood.shape[2:])

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                **kwargs) -> List:
        """Reconstruct the masked groups and attach each cloud's masked CD-L2 (and CD-L1) to
        its data sample as ``chamfer_l2`` / ``chamfer_l1`` (metainfo), for
        ``MaskedReconstructionMetric``. Masks come from the global RNG (seeded by the runner)."""
        out = self.masked_forward(inputs['points'])
        pred = self.head.predict(out.masked_tokens)  # (B, M, K, 3)
        target = self.masked_groups(out)  # (B, M, K, 3)
        batch, num_hidden = pred.shape[:2]
        per_group = {
            mode: chamfer_distance(pred.flatten(0, 1), target.flatten(0, 1), mode,
                                   reduction='none').reshape(batch, num_hidden)
            for mode in ('l2', 'l1')
        }
        # a cloud's value: the mean over its masked groups (the loss's reduction per cloud)
        cd_l2, cd_l1 = per_group['l2'].mean(1), per_group['l1'].mean(1)
        if data_samples is None:
            data_samples = [Det3DDataSample() for _ in range(batch)]
        for sample, l2, l1 in zip(data_samples, cd_l2.tolist(), cd_l1.tolist()):
            sample.set_metainfo(dict(chamfer_l2=l2, chamfer_l1=l1))
        return data_samples
