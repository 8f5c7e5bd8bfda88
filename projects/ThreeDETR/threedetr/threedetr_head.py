"""3DETR's decoder head: FPS queries with Fourier position embeddings, an 8-layer transformer
decoder over the encoder tokens, per-query MLP heads, set-prediction losses with Hungarian
matching on every decoder layer, and the reference's post-processing."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet3d.models.layers import aligned_3d_nms
from mmdet3d.registry import MODELS, TASK_UTILS
from mmdet3d.structures import DepthInstance3DBoxes
from mmdet3d.structures.ops import axis_aligned_bbox_overlaps_3d
from pt3kd_mm.ops import farthest_point_sample, gather_points

from .box_coder import aligned_extents
from .layers import FourierPositionEmbedding, PreNormDecoder, conv_mlp, xavier_init_matrices

_HEAD_OUTPUTS = ('cls_logits', 'center', 'size', 'angle_logits', 'angle_residual')


@MODELS.register_module()
class ThreeDETRHead(BaseModule):
    """Queries, decoder and box heads of 3DETR (facebookresearch/3detr ``Model3DETR``).

    Args:
        num_classes: K object classes (the class head has K + 1 outputs, the last being
            "no object").
        in_channels: width of the encoder tokens (set by the detector from its backbone).
        embed_dims: decoder width.
        proj_hidden_channels: hidden widths of the encoder -> decoder projection (1x1 convs
            with BN + ReLU, output with BN + ReLU); default two of ``in_channels`` (the
            reference's choice for its non-masked encoder).
        num_queries: queries, sampled by FPS over the encoder's token centres.
        num_decoder_layers / num_heads / ffn_dims / dropout: the decoder.
        mlp_dropout: dropout of the box heads' hidden layers.
        bbox_coder: the box parametrisation (default ``ThreeDETRBBoxCoder`` with 12 heading
            bins).
        matcher: the Hungarian matcher and its costs (default the reference's: class 1,
            GIoU 2, centre 0, objectness 0).
        loss_weights: ``cls``, ``no_object`` (weight of the no-object class in the
            cross-entropy), ``giou``, ``center``, ``size``, ``angle_cls``, ``angle_reg``;
            applied alike to the last layer and every auxiliary layer (default the
            reference's 1, 0.25, 1, 5, 1, 0.1, 0.5).
        test_cfg: post-processing: ``remove_empty_box`` (drop boxes holding fewer than
            ``min_points_in_box`` input points), ``nms_iou`` (per-class NMS on the enclosing
            axis-aligned boxes, scored by objectness), ``conf_thresh`` (objectness),
            ``per_class_proposal`` (each kept query proposes a box for every class, scored
            p(class) x objectness, as the reference evaluates); default True, 5, 0.25, 0.05,
            True.
        point_ops_backend: FPS backend for the queries.
    """

    def __init__(self,
                 num_classes: int = 18,
                 in_channels: int = 256,
                 embed_dims: int = 256,
                 proj_hidden_channels: Optional[Sequence[int]] = None,
                 num_queries: int = 256,
                 num_decoder_layers: int = 8,
                 num_heads: int = 4,
                 ffn_dims: int = 256,
                 dropout: float = 0.1,
                 mlp_dropout: float = 0.3,
                 bbox_coder: Optional[dict] = None,
                 matcher: Optional[dict] = None,
                 loss_weights: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 point_ops_backend: str = 'auto',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        bbox_coder = bbox_coder or dict(type='ThreeDETRBBoxCoder', num_angle_bins=12)
        matcher = matcher or dict(type='HungarianMatcher3D', cls_cost=1.0, objectness_cost=0.0,
                                  giou_cost=2.0, center_cost=0.0)
        loss_weights = loss_weights or dict(cls=1.0, no_object=0.25, giou=1.0, center=5.0,
                                            size=1.0, angle_cls=0.1, angle_reg=0.5)
        test_cfg = test_cfg or dict(remove_empty_box=True, min_points_in_box=5, nms_iou=0.25,
                                    conf_thresh=0.05, per_class_proposal=True)
        missing = {'cls', 'no_object', 'giou', 'center', 'size', 'angle_cls',
                   'angle_reg'} - set(loss_weights)
        if missing:
            raise KeyError(f'ThreeDETRHead.loss_weights lacks {sorted(missing)}')
        missing = {'remove_empty_box', 'min_points_in_box', 'nms_iou', 'conf_thresh',
                   'per_class_proposal'} - set(test_cfg)
        if missing:
            raise KeyError(f'ThreeDETRHead.test_cfg lacks {sorted(missing)}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_queries = num_queries
        self.loss_weights = dict(loss_weights)
        self.test_cfg = dict(test_cfg)
        self.point_ops_backend = point_ops_backend
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.matcher = TASK_UTILS.build(matcher)
        hidden = list(proj_hidden_channels) if proj_hidden_channels is not None \
            else [in_channels, in_channels]
        self.input_proj = conv_mlp(in_channels, hidden, embed_dims, out_bias=False,
                                   out_norm_act=True)
        self.pos_embed = FourierPositionEmbedding(embed_dims)
        self.query_proj = conv_mlp(embed_dims, [embed_dims], embed_dims, norm=False,
                                   hidden_bias=True, out_act_only=True)
        self.decoder = PreNormDecoder(num_decoder_layers, embed_dims, num_heads, ffn_dims,
                                      dropout)
        num_bins = self.bbox_coder.num_angle_bins
        widths = dict(cls_logits=num_classes + 1, center=3, size=3, angle_logits=num_bins,
                      angle_residual=num_bins)
        self.heads = nn.ModuleDict({
            name: conv_mlp(embed_dims, [embed_dims, embed_dims], widths[name],
                           dropout=mlp_dropout)
            for name in _HEAD_OUTPUTS
        })
        cls_weight = torch.ones(num_classes + 1)
        cls_weight[-1] = self.loss_weights['no_object']
        self.register_buffer('cls_weight', cls_weight, persistent=False)

    def init_weights(self) -> None:
        """Xavier-uniform decoder matrices (the reference); PyTorch defaults elsewhere."""
        xavier_init_matrices(self.decoder)
        super().init_weights()

    # ------------------------------------------------------------------ forward
    def forward(self, tokens: Tensor, centers: Tensor, xyz_min: Tensor, xyz_max: Tensor,
                all_layers: bool = True) -> Dict[str, Union[Tensor, List[Dict[str, Tensor]]]]:
        """Decode boxes from encoder tokens.

        Args:
            tokens: (B, M, in_channels) encoder tokens; centers: (B, M, 3) their positions.
            xyz_min / xyz_max: (B, 3) the scene's point extent (normalises positions).
            all_layers: decode every decoder layer (training: auxiliary losses) or only the
                last one (inference).

        Returns:
            dict with ``query_xyz`` (B, Q, 3) and ``layers``: per decoder layer (last one
            last) a dict of ``cls_logits`` (B, Q, K + 1), ``angle_logits`` (B, Q, N) and the
            decoded boxes of ``ThreeDETRBBoxCoder.decode``.
        """
        if tokens.shape[1] < self.num_queries:
            raise ValueError(f'ThreeDETRHead: {self.num_queries} queries cannot be sampled '
                             f'from {tokens.shape[1]} encoder tokens; lower num_queries or '
                             f'raise the encoder\'s number of tokens')
        memory = self.input_proj(tokens.transpose(1, 2)).transpose(1, 2)
        query_idx = farthest_point_sample(centers, self.num_queries,
                                          self.point_ops_backend).to(centers.device)
        query_xyz = gather_points(centers, query_idx)
        query_pos = self.query_proj(
            self.pos_embed(query_xyz, xyz_min, xyz_max).transpose(1, 2)).transpose(1, 2)
        memory_pos = self.pos_embed(centers, xyz_min, xyz_max)
        feats = self.decoder(torch.zeros_like(query_pos), memory, query_pos, memory_pos)
        if not all_layers:
            feats = feats[-1:]
        num_layers, batch, num_queries, dims = feats.shape
        flat = feats.reshape(num_layers * batch, num_queries, dims).transpose(1, 2)
        raw = {
            name: head(flat).transpose(1, 2).reshape(num_layers, batch, num_queries, -1)
            for name, head in self.heads.items()
        }
        layers = []
        for i in range(num_layers):
            out = self.bbox_coder.decode(raw['center'][i], raw['size'][i],
                                         raw['angle_logits'][i], raw['angle_residual'][i],
                                         query_xyz, xyz_min, xyz_max)
            out['cls_logits'] = raw['cls_logits'][i]
            out['angle_logits'] = raw['angle_logits'][i]
            layers.append(out)
        return dict(query_xyz=query_xyz, layers=layers)

    # ------------------------------------------------------------------ targets
    def get_targets(self, gt_instances: List[InstanceData], xyz_min: Tensor,
                    xyz_max: Tensor) -> List[Dict[str, Tensor]]:
        """Per scene: labels (M, ), metric ``aabb`` (M, 6) and the coder's normalised
        targets."""
        targets = []
        for i, gt in enumerate(gt_instances):
            boxes, labels = gt.bboxes_3d, gt.labels_3d.long()
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(
                    f'ThreeDETRHead: ground-truth labels of scene {i} must be in '
                    f'[0, {self.num_classes}), got {sorted(set(labels.tolist()))}; check the '
                    f'dataset\'s metainfo classes and num_classes')
            boxes = boxes.to(xyz_min.device)
            centers, sizes = boxes.gravity_center, boxes.dims
            yaws = boxes.yaw if boxes.with_yaw else centers.new_zeros(len(boxes))
            if boxes.with_yaw and len(boxes) and yaws.abs().max() > 1e-6:
                raise NotImplementedError(
                    'ThreeDETRHead matches with the GIoU of axis-aligned boxes (exact for '
                    'ScanNet, whose boxes are axis-aligned); this dataset has rotated boxes')
            target = self.bbox_coder.encode(centers, sizes, yaws, xyz_min[i], xyz_max[i])
            target.update(labels=labels.to(xyz_min.device),
                          aabb=aligned_extents(centers, sizes, yaws))
            targets.append(target)
        return targets

    # ------------------------------------------------------------------ loss
    def loss_by_layer(self, out: Dict[str, Tensor], targets: List[Dict[str, Tensor]],
                      num_boxes: float) -> Dict[str, Tensor]:
        """Match one decoder layer's predictions to the ground truth and compute its
        weighted losses (3DETR's ``SetCriterion.single_output_forward``)."""
        w = self.loss_weights
        cls_logits = out['cls_logits']
        batch, num_queries, _ = cls_logits.shape
        with torch.no_grad():
            prob = cls_logits.softmax(-1)
        pred_aabb = aligned_extents(out['center'], out['size'], out['angle'])
        cls_target = cls_logits.new_full((batch, num_queries), self.num_classes,
                                         dtype=torch.long)
        giou_terms, center_terms, size_terms, ang_cls_terms, ang_reg_terms = [], [], [], [], []
        for b, tgt in enumerate(targets):
            labels = tgt['labels']
            if labels.numel() == 0:
                continue
            giou = axis_aligned_bbox_overlaps_3d(pred_aabb[b], tgt['aabb'], mode='giou')
            center_dist = torch.cdist(out['center_normalized'][b], tgt['center_normalized'],
                                      p=1)
            q, g = self.matcher(prob[b, :, :-1], 1 - prob[b, :, -1], labels, giou.detach(),
                                center_dist.detach())
            cls_target[b, q] = labels[g]
            giou_terms.append(1 - giou[q, g])
            center_terms.append(center_dist[q, g])
            size_terms.append((out['size_normalized'][b, q] -
                               tgt['size_normalized'][g]).abs().sum(-1))
            ang_cls_terms.append(
                F.cross_entropy(out['angle_logits'][b, q], tgt['angle_class'][g],
                                reduction='none'))
            residual = out['angle_residual_normalized'][b, q].gather(
                -1, tgt['angle_class'][g, None]).squeeze(-1)
            ang_reg_terms.append(F.huber_loss(residual, tgt['angle_residual_normalized'][g],
                                              reduction='none', delta=1.0))
        loss_cls = F.cross_entropy(cls_logits.transpose(1, 2), cls_target, self.cls_weight)

        def matched_sum(terms: List[Tensor]) -> Tensor:
            if not terms:  # no box in the batch: zero, with every head in the graph (DDP)
                return sum(out[k].sum() for k in ('cls_logits', 'center', 'size_normalized',
                                                  'angle_logits',
                                                  'angle_residual_normalized')) * 0
            return torch.cat(terms).sum() / num_boxes

        losses = dict(
            loss_cls=w['cls'] * loss_cls,
            loss_giou=w['giou'] * matched_sum(giou_terms),
            loss_center=w['center'] * matched_sum(center_terms),
            loss_size=w['size'] * matched_sum(size_terms),
            loss_angle_cls=w['angle_cls'] * matched_sum(ang_cls_terms),
            loss_angle_reg=w['angle_reg'] * matched_sum(ang_reg_terms))
        return losses

    def loss(self, tokens: Tensor, centers: Tensor, points: Tensor,
             gt_instances: List[InstanceData]) -> Dict[str, Tensor]:
        """Losses of the last decoder layer (``loss_*``) and of every earlier layer
        (``d{i}.loss_*``), each normalised by the number of ground-truth boxes averaged over
        the processes (at least 1), plus the logged ``cardinality_error``."""
        xyz_min, xyz_max = points[..., :3].amin(1), points[..., :3].amax(1)
        outs = self(tokens, centers, xyz_min, xyz_max)
        targets = self.get_targets(gt_instances, xyz_min, xyz_max)
        num_boxes = tokens.new_tensor(float(sum(len(t['labels']) for t in targets)))
        if get_world_size() > 1:
            all_reduce(num_boxes, op='mean')
        num_boxes = num_boxes.clamp(min=1).item()
        layers = outs['layers']
        losses = {}
        for i, out in enumerate(layers):
            prefix = '' if i == len(layers) - 1 else f'd{i}.'
            for key, value in self.loss_by_layer(out, targets, num_boxes).items():
                losses[prefix + key] = value
        with torch.no_grad():
            num_pred = (layers[-1]['cls_logits'].argmax(-1) != self.num_classes).sum(1)
            num_gt = torch.tensor([len(t['labels']) for t in targets], device=num_pred.device)
            losses['cardinality_error'] = (num_pred - num_gt).abs().float().mean()
        return losses

    # ------------------------------------------------------------------ predict
    def predict(self, tokens: Tensor, centers: Tensor, points: Tensor) -> List[InstanceData]:
        """Boxes of each scene after the reference's post-processing (see ``test_cfg``), as
        ``InstanceData`` with ``bboxes_3d`` (``DepthInstance3DBoxes``, yaw included when
        ``num_angle_bins > 1``), ``scores_3d`` and ``labels_3d``."""
        xyz = points[..., :3]
        xyz_min, xyz_max = xyz.amin(1), xyz.amax(1)
        last = self(tokens, centers, xyz_min, xyz_max, all_layers=False)['layers'][-1]
        prob = last['cls_logits'].softmax(-1)
        cls_prob, objectness = prob[..., :-1], 1 - prob[..., -1]
        cfg = self.test_cfg
        with_yaw = self.bbox_coder.num_angle_bins > 1
        results = []
        for b in range(points.shape[0]):
            center, size, angle = last['center'][b], last['size'][b], last['angle'][b]
            keep = torch.ones(len(center), dtype=torch.bool, device=center.device)
            if cfg['remove_empty_box']:
                inside = count_points_in_boxes(xyz[b], center, size, angle)
                keep = inside >= cfg['min_points_in_box']
                if not keep.any():
                    keep[objectness[b].argmax()] = True
            idx = keep.nonzero().flatten()
            aabb = aligned_extents(center[idx], size[idx], angle[idx])
            picked = aligned_3d_nms(aabb, objectness[b, idx], cls_prob[b, idx].argmax(-1),
                                    cfg['nms_iou'])
            idx = idx[picked].sort().values  # kept queries in query order
            idx = idx[objectness[b, idx] > cfg['conf_thresh']]
            if cfg['per_class_proposal']:
                num_kept = len(idx)
                labels = torch.arange(self.num_classes, device=center.device).repeat(num_kept)
                idx = idx.repeat_interleave(self.num_classes)
                scores = cls_prob[b, idx, labels] * objectness[b, idx]
            else:
                labels = cls_prob[b, idx].argmax(-1)
                scores = objectness[b, idx]
            box = torch.cat([center[idx], size[idx]] + ([angle[idx, None]] if with_yaw else []),
                            dim=-1)
            results.append(InstanceData(
                bboxes_3d=DepthInstance3DBoxes(box.detach(), box_dim=box.shape[-1],
                                               with_yaw=with_yaw, origin=(0.5, 0.5, 0.5)),
                scores_3d=scores.detach(),
                labels_3d=labels))
        return results


def count_points_in_boxes(xyz: Tensor, centers: Tensor, sizes: Tensor, yaws: Tensor,
                          chunk_size: int = 64) -> Tensor:
    """Number of points of ``xyz`` (N, 3) inside each box (centre, size, heading about z),
    borders included -> (Q, ) long."""
    counts = []
    for s in range(0, len(centers), chunk_size):
        c, sz, yaw = centers[s:s + chunk_size], sizes[s:s + chunk_size], yaws[s:s + chunk_size]
        d = xyz[None] - c[:, None]  # Q, N, 3
        cos, sin = yaw.cos()[:, None], yaw.sin()[:, None]
        local_x = d[..., 0] * cos + d[..., 1] * sin
        local_y = -d[..., 0] * sin + d[..., 1] * cos
        half = sz[:, None] / 2
        inside = (local_x.abs() <= half[..., 0]) & (local_y.abs() <= half[..., 1]) & \
            (d[..., 2].abs() <= half[..., 2])
        counts.append(inside.sum(-1))
    return torch.cat(counts) if counts else xyz.new_zeros(0, dtype=torch.long)
