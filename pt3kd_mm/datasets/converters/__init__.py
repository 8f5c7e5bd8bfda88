"""Raw dataset -> mmdet3d layout converters (not imported by ``import pt3kd_mm``; the command
lines are under ``tools/dataset_converters/``)."""
from .scannet import (SCANNET_DET_NYU40_IDS, ScanNetPrepSummary, export_scene,
                      extract_scene, prepare_scannet, read_axis_align_matrix,
                      read_label_mapping, read_mesh_vertices_rgb)
from .scannet_frames import (CorruptFrameWarning, FrameError, PosedImagesReader,
                             ScanNetFramesSummary, SensReader, SensWriter, backproject_depth,
                             colour_points, convert_scan, convert_scannet_frames,
                             depth_to_image_matrix, frame_to_points, sample_frame_points,
                             split_scenes)
from .scannet_sens import RGBDFrame, SensHeader, read_sens_header
from .sweethome3d import (CLASS_RULES, ClassRule, SweetHome3DSummary, classify,
                          convert_sweethome3d, parse_java_properties, read_catalogue)

__all__ = [
    'SCANNET_DET_NYU40_IDS', 'ScanNetPrepSummary', 'export_scene', 'extract_scene',
    'prepare_scannet', 'read_axis_align_matrix', 'read_label_mapping', 'read_mesh_vertices_rgb',
    'CorruptFrameWarning', 'FrameError', 'PosedImagesReader', 'ScanNetFramesSummary',
    'SensReader', 'SensWriter', 'backproject_depth', 'colour_points', 'convert_scan',
    'convert_scannet_frames', 'depth_to_image_matrix', 'frame_to_points',
    'sample_frame_points', 'split_scenes', 'RGBDFrame', 'SensHeader', 'read_sens_header',
    'CLASS_RULES', 'ClassRule', 'SweetHome3DSummary', 'classify', 'convert_sweethome3d',
    'parse_java_properties', 'read_catalogue'
]
