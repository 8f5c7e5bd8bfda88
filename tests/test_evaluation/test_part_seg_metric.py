"""Instance / class mIoU of part segmentation against hand computations."""
import pytest
import torch

from pt3kd_mm.evaluation.metrics import ShapeNetPartMetric, shape_part_iou, summarize_part_ious

PARTS = ((0, 1), (2, 3, 4))  # category A: parts 0, 1; category B: parts 2, 3, 4
SHAPES = [  # (category, labels, predictions)
    (0, [0, 0, 1, 1], [0, 1, 1, 1]),  # part 0: 1/2, part 1: 2/3 -> 7/12
    (0, [0, 0, 0, 0], [0, 0, 0, 0]),  # part 1 absent from both -> IoU 1 -> shape 1
    (1, [2, 2, 3, 3], [2, 2, 3, 4]),  # 1, 1/2, 0 (part 4 predicted, absent) -> 1/2
]


def sample(category, labels, preds):
    return dict(category=category,
                gt_pts_seg=dict(pts_semantic_mask=torch.tensor(labels)),
                pred_pts_seg=dict(pts_semantic_mask=torch.tensor(preds)))


def test_shape_iou_by_hand():
    assert shape_part_iou([0, 1, 1, 1], [0, 0, 1, 1], PARTS[0]) == pytest.approx(7 / 12)
    assert shape_part_iou([0, 0, 0, 0], [0, 0, 0, 0], PARTS[0]) == 1.0
    assert shape_part_iou([2, 2, 3, 4], [2, 2, 3, 3], PARTS[1]) == pytest.approx(0.5)
    # a point predicted as another category's part is wrong for its true part only
    assert shape_part_iou([0, 3], [0, 1], PARTS[0]) == pytest.approx((1 + 0) / 2)


def test_instance_vs_class_averaging():
    ious = [7 / 12, 1.0, 0.5]
    out = summarize_part_ious(ious, [0, 0, 1], ['A', 'B'])
    assert out['instance_miou'] == pytest.approx((7 / 12 + 1 + 0.5) / 3)
    assert out['class_miou'] == pytest.approx(((7 / 12 + 1) / 2 + 0.5) / 2)
    assert out['A_miou'] == pytest.approx((7 / 12 + 1) / 2) and out['B_miou'] == 0.5
    assert out['instance_miou'] != pytest.approx(out['class_miou'])


def test_metric_process_and_compute():
    metric = ShapeNetPartMetric()
    metric.dataset_meta = dict(classes=('A', 'B'), category_parts=PARTS)
    metric.process({}, [sample(*s) for s in SHAPES[:2]])
    metric.process({}, [sample(*SHAPES[2])])
    out = metric.evaluate(3)
    assert out['instance_miou'] == pytest.approx((7 / 12 + 1 + 0.5) / 3)
    assert out['class_miou'] == pytest.approx(((7 / 12 + 1) / 2 + 0.5) / 2)
    assert out['accuracy'] == pytest.approx(10 / 12)


def test_metric_arguments_and_errors():
    metric = ShapeNetPartMetric(category_parts=PARTS, class_names=('A', 'B'))
    metric.process({}, [sample(*SHAPES[2])])
    assert metric.evaluate(1)['B_miou'] == pytest.approx(0.5)
    metric = ShapeNetPartMetric()
    with pytest.raises(KeyError, match="needs 'category_parts'"):
        metric.process({}, [sample(*SHAPES[0])])
    metric = ShapeNetPartMetric(category_parts=PARTS, class_names=('A', 'B'))
    bad = sample(*SHAPES[0])
    del bad['category']
    with pytest.raises(KeyError, match="needs each sample's 'category'"):
        metric.process({}, [bad])
