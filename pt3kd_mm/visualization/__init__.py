"""Offline, headless rendering of point clouds, groups, masked reconstructions, detection
boxes and segmentations to PNG (matplotlib Agg, exact pixel size) and self-contained HTML
(plotly, inlined). Pure functions on numpy arrays: no model code (``tools/visualize.py``
runs the models). Not imported by ``import pt3kd_mm``."""
from .colors import index_colors, label_colors, scannet_seg_classes, scannet_seg_palette
from .figure import DPI, Figure3D, Lines, Panel, Points, Texts
from .renderers import (BOX_EDGES, ReconstructionPoints, assemble_reconstruction, box_corners,
                        group_point_labels, render_boxes, render_groups,
                        render_reconstruction, render_segmentation)

__all__ = [
    'DPI', 'Figure3D', 'Lines', 'Panel', 'Points', 'Texts', 'BOX_EDGES',
    'ReconstructionPoints', 'assemble_reconstruction', 'box_corners', 'group_point_labels',
    'index_colors', 'label_colors', 'render_boxes', 'render_groups', 'render_reconstruction',
    'render_segmentation', 'scannet_seg_classes', 'scannet_seg_palette'
]
