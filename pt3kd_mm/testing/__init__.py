"""Helpers for tests, demos and benchmarks (as ``mmengine.testing``): procedural demo data,
random stand-in teacher weights, running the command-line tools, opening generated HTML in
headless chromium. Not imported by ``import pt3kd_mm``."""
from .brute_force import brute_force_interpolate
from .browser import (CHROMIUM_MISSING, check_html_in_chromium, chromium_binary,
                      open_in_chromium)
from .demo_data import create_demo_data, create_modelnet40_demo
from .demo_scannet import create_scannet_demo
from .random_clip import DEMO_CLIP_CFG, TINY_CLIP_CFG, build_random_clip, write_random_clip
from .random_clipcap import random_clipcap_state_dict, write_random_clipcap
from .shapenet_part_demo import create_shapenetpart_demo
from .tools import REPO, load_tool, run_tool

__all__ = [
    'create_demo_data', 'create_modelnet40_demo', 'create_scannet_demo', 'DEMO_CLIP_CFG',
    'TINY_CLIP_CFG', 'build_random_clip', 'write_random_clip', 'random_clipcap_state_dict',
    'write_random_clipcap', 'REPO', 'load_tool', 'run_tool',
    'create_shapenetpart_demo', 'brute_force_interpolate', 'CHROMIUM_MISSING',
    'check_html_in_chromium', 'chromium_binary', 'open_in_chromium'
]
