"""Renderers on numpy inputs (no model code): each builds a :class:`Figure3D` and, given
``out`` (a path without extension), writes ``out.png`` (exactly ``size`` pixels) and / or
``out.html`` (self-contained plotly page)."""
from typing import Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .colors import (BLUE, DARK, GREY, ORANGE, RGB, index_colors, label_colors,
                     scannet_seg_classes, scannet_seg_palette)
from .figure import Figure3D, Lines, Panel, Points, Texts, save_figure

FORMATS = ('png', 'html')
SIZE = (800, 400)

# the 12 edges of a box between the 8 corners in mmdet3d's order (x0y0z0, x0y0z1, x0y1z1,
# x0y1z0, x1y0z0, x1y0z1, x1y1z1, x1y1z0): the x0 face, the x1 face, the four along x
BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
             (0, 4), (1, 5), (2, 6), (3, 7))


def _xyz(points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'expected points of shape (N, 3+), got {points.shape}')
    return points[:, :3]


def subsample(num: int, max_points: Optional[int], seed: int = 0) -> np.ndarray:
    """Indices of at most ``max_points`` of ``num`` points (sorted, deterministic)."""
    if max_points is None or num <= max_points:
        return np.arange(num)
    return np.sort(np.random.default_rng(seed).choice(num, max_points, replace=False))


# ---------------------------------------------------------------------- groups
def group_point_labels(num_points: int, centers: np.ndarray, group_idx: np.ndarray,
                       points: np.ndarray) -> np.ndarray:
    """The group of each point (N,), -1 for a point in no group; a point in several (kNN)
    groups belongs to the one with the nearest centre."""
    group_idx = np.asarray(group_idx, dtype=np.int64)
    centers = np.asarray(centers, dtype=np.float32)
    labels = np.full(num_points, -1, dtype=np.int64)
    best = np.full(num_points, np.inf)
    for g, members in enumerate(group_idx):
        dist = np.linalg.norm(points[members] - centers[g], axis=1)
        closer = dist < best[members]
        labels[members[closer]] = g
        best[members[closer]] = dist[closer]
    return labels


def render_groups(points, centers, group_idx, title: str = '', out: Optional[str] = None,
                  formats: Sequence[str] = FORMATS, size: Tuple[int, int] = SIZE) -> Figure3D:
    """A cloud with its groups coloured: points (N, 3+), centers (G, 3), group_idx (G, K)
    indices into the points. Left: the cloud and the group centres; right: each group in
    its colour (points in no group grey)."""
    xyz = _xyz(points)
    centers = np.asarray(centers, dtype=np.float32).reshape(-1, 3)
    labels = group_point_labels(len(xyz), centers, group_idx, xyz)
    colors = index_colors(len(centers))
    cloud = Panel(f'cloud ({len(xyz)} points) + {len(centers)} centres',
                  [Points(xyz, BLUE, 'points', size=2),
                   Points(centers, DARK, 'group centres', size=12)])
    grouped = Panel(f'{len(centers)} groups of {np.shape(group_idx)[1]} points', [])
    if (labels < 0).any():
        grouped.layers.append(Points(xyz[labels < 0], GREY, 'in no group', size=2))
    for g, color in enumerate(colors):
        grouped.layers.append(Points(xyz[labels == g], color, f'group {g}', size=3))
    return save_figure(Figure3D([cloud, grouped], title), out, formats, size)


# ---------------------------------------------------------------------- reconstruction
class ReconstructionPoints(NamedTuple):
    """Absolute coordinates of a masked-modelling sample."""
    original: np.ndarray  # (G * K, 3) every group's points
    visible: np.ndarray  # (G_vis, K, 3) the visible groups
    masked: np.ndarray  # (G_mask, K, 3) the masked groups (ground truth)
    reconstructed: Optional[np.ndarray]  # (G_mask, K', 3) the predicted masked groups


def assemble_reconstruction(neighborhood, centers, mask,
                            predicted=None) -> ReconstructionPoints:
    """One cloud's groups in absolute coordinates from a masked forward.

    Args:
        neighborhood: (G, K, 3) re-centred groups (group points minus their centre).
        centers: (G, 3) group centres.
        mask: (G,) bool, True = masked.
        predicted: (G_mask, K', 3) predicted re-centred points of the masked groups, in the
            order of the masked groups (``neighborhood[mask]``), or None (no point target,
            e.g. ACT).
    """
    neighborhood = np.asarray(neighborhood, dtype=np.float32)
    centers = np.asarray(centers, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if neighborhood.shape[:1] != centers.shape[:1] or mask.shape != centers.shape[:1]:
        raise ValueError(f'neighborhood {neighborhood.shape}, centers {centers.shape} and '
                         f'mask {mask.shape} do not describe the same groups')
    groups = neighborhood + centers[:, None]
    reconstructed = None
    if predicted is not None:
        predicted = np.asarray(predicted, dtype=np.float32)
        if len(predicted) != mask.sum():
            raise ValueError(f'{len(predicted)} predicted groups for {int(mask.sum())} masked '
                             f'groups')
        reconstructed = predicted + centers[mask][:, None]
    return ReconstructionPoints(groups.reshape(-1, 3), groups[~mask], groups[mask],
                                reconstructed)


def render_reconstruction(original, visible_groups, masked_groups, reconstructed=None,
                          title: str = '', out: Optional[str] = None,
                          formats: Sequence[str] = FORMATS,
                          size: Tuple[int, int] = SIZE) -> Figure3D:
    """Masked point modelling, absolute coordinates: original (N, 3), visible_groups
    (G_vis, K, 3), masked_groups (G_mask, K, 3), reconstructed (G_mask, K', 3) or None.
    Panels: the original; the visible groups (masked ones greyed); the reconstruction
    (visible + predicted masked groups), left out when ``reconstructed`` is None."""
    original = _xyz(original)
    visible = np.asarray(visible_groups, dtype=np.float32).reshape(-1, 3)
    masked = np.asarray(masked_groups, dtype=np.float32).reshape(-1, 3)
    num_vis, num_mask = len(np.asarray(visible_groups)), len(np.asarray(masked_groups))
    panels = [
        Panel(f'original ({len(original)} points)', [Points(original, BLUE, 'original', 2)]),
        Panel(f'visible: {num_vis} groups, {num_mask} masked (grey)',
              [Points(masked, GREY, 'masked (hidden)', 2, legend=True),
               Points(visible, BLUE, 'visible', 3, legend=True)]),
    ]
    if reconstructed is not None:
        rec = np.asarray(reconstructed, dtype=np.float32).reshape(-1, 3)
        panels.append(Panel('reconstruction: visible + predicted',
                            [Points(visible, BLUE, 'visible', 3),
                             Points(rec, ORANGE, 'predicted masked groups', 3,
                                    legend=True)]))
    return save_figure(Figure3D(panels, title), out, formats, size)


# ---------------------------------------------------------------------- boxes
def box_corners(boxes) -> np.ndarray:
    """(M, 7) depth boxes (x, y, z, dx, dy, dz, yaw), mmdet3d's ``DepthInstance3DBoxes``
    convention (z = bottom centre), or (M, 6) without yaw -> (M, 8, 3) corners, computed
    by mmdet3d's ``DepthInstance3DBoxes.corners``."""
    import torch
    from mmdet3d.structures import DepthInstance3DBoxes
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.size == 0:
        return np.zeros((0, 8, 3), dtype=np.float32)
    boxes = boxes.reshape(len(boxes), -1)
    if boxes.shape[1] == 6:
        boxes = np.concatenate([boxes, np.zeros((len(boxes), 1), np.float32)], 1)
    return DepthInstance3DBoxes(torch.from_numpy(boxes[:, :7].copy())).corners.numpy()


def box_panel(title: str, xyz: np.ndarray, boxes, labels, scores,
              class_names: Sequence[str], colors: Sequence[RGB]) -> Panel:
    """Points (grey) + one wireframe per box, labelled '<class>' or '<class> <score>'."""
    panel = Panel(title, [Points(xyz, GREY, 'points', 1.5)])
    corners = box_corners(boxes)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    strings, positions, text_colors = [], [], []
    for c in sorted(set(labels.tolist())):
        pick = np.flatnonzero(labels == c)
        name = class_names[c] if 0 <= c < len(class_names) else f'class {c}'
        color = colors[c % len(colors)]
        edges = corners[pick][:, BOX_EDGES]  # (m, 12, 2, 3)
        panel.layers.append(Lines(edges.reshape(-1, 2, 3), color, name, 1.2))
        for i in pick:
            top = corners[i][corners[i][:, 2].argmax()]
            strings.append(name if scores is None else f'{name} {float(scores[i]):.2f}')
            positions.append(top)
            text_colors.append(color)
    if strings:
        panel.layers.append(Texts(np.stack(positions), strings, text_colors))
    return panel


def render_boxes(points, gt_boxes, gt_labels, pred_boxes, pred_labels, scores,
                 class_names: Sequence[str], title: str = '', out: Optional[str] = None,
                 formats: Sequence[str] = FORMATS, size: Tuple[int, int] = SIZE,
                 max_points: Optional[int] = 20000) -> Figure3D:
    """Detection over a scene: points (N, 3+); ground truth (M, 7) boxes and (M,) labels
    beside the prediction (P, 7) boxes, (P,) labels and scores; boxes in mmdet3d's
    ``DepthInstance3DBoxes`` convention (x, y, z bottom centre, dx, dy, dz, yaw). A class
    has one colour in both panels."""
    xyz = _xyz(points)
    xyz = xyz[subsample(len(xyz), max_points)]
    colors = index_colors(len(class_names))
    gt = box_panel(f'ground truth ({len(np.asarray(gt_labels).reshape(-1))} boxes)', xyz,
                   gt_boxes, gt_labels, None, class_names, colors)
    pred = box_panel(f'prediction ({len(np.asarray(pred_labels).reshape(-1))} boxes)', xyz,
                     pred_boxes, pred_labels, scores, class_names, colors)
    return save_figure(Figure3D([gt, pred], title, elev=50), out, formats, size)


# ---------------------------------------------------------------------- segmentation
def render_segmentation(points, labels: Mapping[str, np.ndarray],
                        palette: Optional[Sequence[RGB]] = None,
                        class_names: Optional[Sequence[str]] = None, title: str = '',
                        out: Optional[str] = None, formats: Sequence[str] = FORMATS,
                        size: Tuple[int, int] = SIZE,
                        max_points: Optional[int] = 20000) -> Figure3D:
    """Per-point classes: points (N, 3+) and one panel per entry of ``labels`` (title ->
    (N,) class indices), e.g. ``{'ground truth': gt, 'prediction': pred}``. ``palette``
    (RGB 0-255 per class) and ``class_names`` default to mmdet3d's ScanNet segmentation
    ones; labels outside the palette (the ignore index) are grey 'unannotated'."""
    palette = list(palette) if palette is not None else scannet_seg_palette()
    class_names = list(class_names) if class_names is not None else scannet_seg_classes()
    xyz = _xyz(points)
    keep = subsample(len(xyz), max_points)
    panels = []
    for name, lab in labels.items():
        lab = np.asarray(lab, dtype=np.int64).reshape(-1)
        if len(lab) != len(xyz):
            raise ValueError(f'{name}: {len(lab)} labels for {len(xyz)} points')
        lab = lab[keep]
        lab = np.where((lab >= 0) & (lab < len(palette)), lab, -1)
        panel = Panel(name, [])
        for c in sorted(set(lab.tolist())):
            label = 'unannotated' if c < 0 else (
                class_names[c] if c < len(class_names) else f'class {c}')
            color = GREY if c < 0 else tuple(palette[c])
            panel.layers.append(Points(xyz[keep][lab == c], color, label, 2, legend=True))
        panels.append(panel)
    return save_figure(Figure3D(panels, title, elev=50), out, formats, size)


__all__ = ['BOX_EDGES', 'ReconstructionPoints', 'assemble_reconstruction', 'box_corners',
           'group_point_labels', 'label_colors', 'render_boxes', 'render_groups',
           'render_reconstruction', 'render_segmentation', 'subsample']
