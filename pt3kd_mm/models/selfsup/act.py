"""ACT stage 2: masked distillation of the frozen stage-1 autoencoder's features."""
import contextlib
from typing import Dict, List, Optional

from torch import Tensor

from mmdet3d.registry import MODELS

from ..teachers import TeacherSet
from ..utils.derived_cfg import derive_part_cfg
from ..utils.masking import num_masked
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
        teacher_mode: 'train' (the reference): the frozen teacher computes the targets in train
            mode (BatchNorm on batch statistics, prompt dropout) without updating any of its
            buffers (``FrozenTeacher.train_mode``); 'eval': in eval mode (running statistics, no
            dropout). Either way the Gumbel choice is sampled (hard, tau = the teacher's
            ``gumbel_tau``, 1 by default) and the teacher stays out of the state dict and the
            optimiser.
        Others as ``PointMAE`` (head: ``CosineDistillHead``, whose ``target_dims`` is taken
        from the teacher's ``embed_dims``; the backbone's ``num_groups`` / ``group_size`` must
        equal the teacher's).
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, teacher: dict,
                 mask_ratio: float = 0.8, mask_type: str = 'rand',
                 teacher_mode: str = 'train',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if teacher_mode not in ('train', 'eval'):
            raise ValueError(f"teacher_mode must be 'train' or 'eval', got {teacher_mode!r}")
        # refuse a mask ratio hiding no group before the stage-1 teacher is loaded
        num_masked(backbone['num_groups'] if isinstance(backbone, dict) else backbone.num_groups,
                   mask_ratio, name='model.mask_ratio')
        teachers = TeacherSet(dict(stage1=teacher), cfg_key='model.teacher')
        stage1 = teachers['stage1'].network
        if hasattr(stage1, 'embed_dims'):
            head = derive_part_cfg(head, dict(target_dims=stage1.embed_dims), 'model.head',
                                   'model.teacher.model (embed_dims)')
        super().__init__(backbone, neck, head, mask_ratio, mask_type, data_preprocessor,
                         init_cfg)
        # the teacher encodes the student's own groups: they must be the groups it learnt on
        for key in ('num_groups', 'group_size'):
            mine, theirs = getattr(self.backbone, key), getattr(stage1, key, None)
            if theirs is not None and mine != theirs:
                raise ValueError(f'model.backbone.{key} = {mine} but the stage-1 teacher '
                                 f'(model.teacher.model.{key}) was built with {theirs}; the '
                                 f'teacher reads the student\'s groups, so they must agree')
        self.teachers = teachers
        self.teacher_mode = teacher_mode

    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, Tensor]:
        out = self.masked_forward(inputs['points'])
        target = self.teacher_target(out.neighborhood, out.centers)
        target = target[out.mask].reshape(out.mask.shape[0], -1, target.shape[-1])
        return dict(loss=self.head.loss(out.masked_tokens, target))

    def teacher_target(self, neighborhood: Tensor, centers: Tensor) -> Tensor:
        """The stage-1 features (B, G, C_teacher) of groups (B, G, K, 3) / centres (B, G, 3), in
        ``teacher_mode``."""
        teacher = self.teachers['stage1']
        mode = teacher.train_mode() if self.teacher_mode == 'train' else contextlib.nullcontext()
        with mode:
            return teacher(neighborhood, centers, hard=True)['features']

    def predict(self, *args, **kwargs):
        raise RuntimeError('ACT stage 2 has no predict mode; export the encoder with '
                           'tools/model_converters/export_encoder.py for downstream use')
