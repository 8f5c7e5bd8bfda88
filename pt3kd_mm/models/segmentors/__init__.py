from .point_part_segmentor import PointPartSegmentor
from .point_scene_segmentor import PointSceneSegmentor
from .scene_chunks import SceneChunk, plan_scene_chunks

__all__ = ['PointPartSegmentor', 'PointSceneSegmentor', 'SceneChunk', 'plan_scene_chunks']
