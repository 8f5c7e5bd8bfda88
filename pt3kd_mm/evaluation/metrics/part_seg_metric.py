"""Instance and class mIoU of part segmentation, as Point-MAE / ACT / ReCon compute them."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet3d.registry import METRICS


def shape_part_iou(pred: np.ndarray, label: np.ndarray, parts: Sequence[int]) -> float:
    """Mean IoU of one shape over its category's parts.

    A part absent from both the prediction and the ground truth counts IoU 1 (the reference's
    convention); points predicted as a part of another category count as wrong for the true
    part only.

    Args:
        pred: (N,) predicted part labels.
        label: (N,) true part labels.
        parts: the part labels of the shape's category.
    """
    pred, label = np.asarray(pred), np.asarray(label)
    if pred.shape != label.shape:
        raise ValueError(f'prediction {pred.shape} and labels {label.shape} differ in shape')
    ious = []
    for part in parts:
        p, t = pred == part, label == part
        union = np.logical_or(p, t).sum()
        ious.append(1.0 if union == 0 else np.logical_and(p, t).sum() / union)
    return float(np.mean(ious))


def summarize_part_ious(shape_ious: Sequence[float], categories: Sequence[int],
                        class_names: Sequence[str]) -> Dict[str, float]:
    """instance_miou: mean of all shape IoUs; class_miou: mean over the categories that have
    shapes of their mean shape IoU; ``<name>_miou`` per such category."""
    if len(shape_ious) == 0:
        raise ValueError('no shapes to evaluate')
    per_category = defaultdict(list)
    for iou, category in zip(shape_ious, categories):
        per_category[int(category)].append(iou)
    category_mious = {c: float(np.mean(v)) for c, v in sorted(per_category.items())}
    out = dict(instance_miou=float(np.mean(shape_ious)),
               class_miou=float(np.mean(list(category_mious.values()))))
    for category, miou in category_mious.items():
        out[f'{class_names[category]}_miou'] = miou
    return out


@METRICS.register_module()
class ShapeNetPartMetric(BaseMetric):
    """Part-segmentation metric of the Point-MAE lineage (``segmentation/main.py``):

    * shape IoU = mean over the parts of the shape's category of the part IoU (1 for a part
      absent from both prediction and ground truth);
    * instance_miou = mean shape IoU over all shapes;
    * class_miou = mean over categories of their mean shape IoU (over the categories present,
      all 16 on the test split);
    * accuracy = correctly labelled points / all points; ``<category>_miou`` per category.

    Values are fractions (0..1). The categories and their parts come from the dataset's
    metainfo (``classes``, ``category_parts``: ``ShapeNetPartDataset`` sets them) or the
    arguments. Predictions are read from ``pred_pts_seg.pts_semantic_mask`` (the segmentor
    restricts them to the category's parts), labels from ``gt_pts_seg.pts_semantic_mask``,
    the category from the sample's ``category`` meta key.

    Args:
        category_parts: part labels per category label (overrides the dataset's).
        class_names: category names (overrides the dataset's).
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 category_parts: Optional[Sequence[Sequence[int]]] = None,
                 class_names: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._category_parts = category_parts
        self._class_names = class_names

    def _meta(self, key: str, given):
        if given is not None:
            return given
        if self.dataset_meta is None or key not in self.dataset_meta:
            raise KeyError(f'{type(self).__name__} needs {key!r}: evaluate a dataset whose '
                           f'metainfo has it (ShapeNetPartDataset) or pass {key} to the metric')
        return self.dataset_meta[key]

    @property
    def category_parts(self) -> Sequence[Sequence[int]]:
        return self._meta('category_parts', self._category_parts)

    @property
    def class_names(self) -> Sequence[str]:
        return self._meta('classes', self._class_names)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep (shape IoU, category, correct points, points) per sample."""
        category_parts = self.category_parts
        for sample in data_samples:
            if 'category' not in sample:
                raise KeyError("ShapeNetPartMetric needs each sample's 'category'; pack it "
                               "with Pack3DDetInputs(meta_keys=(..., 'category'))")
            pred = sample['pred_pts_seg']['pts_semantic_mask'].cpu().numpy()
            label = sample['gt_pts_seg']['pts_semantic_mask'].cpu().numpy()
            category = int(sample['category'])
            iou = shape_part_iou(pred, label, category_parts[category])
            self.results.append((iou, category, int((pred == label).sum()), label.size))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        ious, categories, correct, total = zip(*results)
        metrics = summarize_part_ious(ious, categories, self.class_names)
        metrics['accuracy'] = float(sum(correct) / sum(total))
        MMLogger.get_current_instance().info(
            'part segmentation: ' + ', '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
        return metrics
