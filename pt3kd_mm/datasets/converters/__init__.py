"""Raw dataset -> mmdet3d layout converters (not imported by ``import pt3kd_mm``; the command
lines are under ``tools/dataset_converters/``)."""
from .scannet import (SCANNET_DET_NYU40_IDS, ScanNetPrepSummary, export_scene,
                      extract_scene, prepare_scannet, read_axis_align_matrix,
                      read_label_mapping, read_mesh_vertices_rgb)

__all__ = [
    'SCANNET_DET_NYU40_IDS', 'ScanNetPrepSummary', 'export_scene', 'extract_scene',
    'prepare_scannet', 'read_axis_align_matrix', 'read_label_mapping', 'read_mesh_vertices_rgb'
]
