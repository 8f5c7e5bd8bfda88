"""ACT stage 2: masked distillation of the frozen stage-1 autoencoder's features."""
from typing import Dict, List, Optional

from torch import Tensor

from mmdet3d.registry import MODELS

from .point_mae import PointMAE


@MODELS.register_module()
class ACT(PointMAE):
    """Student = point-patch transformer with CLS token on visible groups (mask 0.8) + a
    2-block decoder + Linear; target = the teacher's features of the masked groups (after the
    stage-1 second DGCNN, hard Gumbel); loss 1 - cosine.

    ``loss()``: group -> mask -> encoder on visible groups -> decoder -> teacher target of the
    masked groups -> head.loss. The teacher is frozen and kept out of the student's checkpoints.

    Args:
        teacher: a frozen teacher config, e.g. ``ConfigModelTeacher`` around the stage-1
            ``ACTAutoencoder`` with ``method='encode_groups'``.
        Others as ``PointMAE`` (head: ``CosineDistillHead``).
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, teacher: dict,
                 mask_ratio: float = 0.8, mask_type: str = 'rand',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone, neck, head, mask_ratio, mask_type, data_preprocessor,
                         init_cfg)
        self.teacher = MODELS.build(teacher)

    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, Tensor]:
        out = self.masked_forward(inputs['points'])
        target = self.teacher(out.neighborhood, out.centers, hard=True)['features']
        target = target[out.mask].reshape(out.mask.shape[0], -1, target.shape[-1])
        return dict(loss=self.head.loss(out.masked_tokens, target))

    def predict(self, *args, **kwargs):
        raise RuntimeError('ACT stage 2 has no predict mode; export the encoder with '
                           'tools/model_converters/export_encoder.py for downstream use')
