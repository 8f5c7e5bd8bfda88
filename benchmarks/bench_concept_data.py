"""Concept-distillation data speed: the ScanNet frame-pair converter (.sens and posed-images
inputs; frames/s) and the dataset reader (ScanNetFramePairDataset through the full training
pipeline to a packed sample; pairs/s), on demo-sized frames (colour 320x240, depth 160x120) and
on real-ScanNet-sized frames (colour 1296x968, depth 640x480), one process each.

Data: synthetic RGB-D scans (pt3kd_mm.testing.demo_rgbd); the real-sized scans repeat a few
rendered views (rendering them is slow, decoding is what is timed). Synthetic flat-shaded
views compress better than camera images (real ScanNet JPEGs are ~150-250 KB at 1296x968), so
JPEG decoding is somewhat faster here than on ScanNet. Every frame is converted
(frame_skip=1) to time the per-frame work; 20000 points per pair. Usage:
    python benchmarks/bench_concept_data.py [--frames 40] [--real-frames 24]
"""
import argparse
import os
import os.path as osp
import tempfile
import time

from bench_common import machine_line
from mmengine.registry import init_default_scope

import pt3kd_mm  # noqa: F401
from mmdet3d.registry import DATASETS
from pt3kd_mm.datasets.converters.scannet_frames import convert_scannet_frames
from pt3kd_mm.testing.demo_rgbd import create_rgbd_demo

PIPELINE = [
    dict(type='LoadPointCloudNpy', use_dims=(0, 1, 2)),
    dict(type='PointSubsample', num_points=4096),
    dict(type='LoadFrameImage'),
    dict(type='ResizeCropFrameImage', size=224),
    dict(type='ProjectPointsToImage'),
    dict(type='CentrePoints'),
    dict(type='RandomScaleTranslate'),
    dict(type='Pack3DDetInputs', keys=['points', 'img'],
         meta_keys=('points_uv', 'points_in_image', 'img_path', 'scene_id', 'frame_id')),
]


def measure(root: str, name: str, color_size, depth_size, frames: int, unique) -> dict:
    """Write the scans, convert them both ways, read the pairs back; numbers of one size."""
    data = osp.join(root, name)
    t = time.perf_counter()
    create_rgbd_demo(data, num_scenes=2, frames_per_scene=frames, color_size=color_size,
                     depth_size=depth_size, unique_frames=unique)
    render_s = time.perf_counter() - t
    sens = osp.join(data, 'scans', 'scene0000_00', 'scene0000_00.sens')
    jpgs = [f for f in os.listdir(osp.join(data, 'posed_images', 'scene0000_00'))
            if f.endswith('.jpg')]
    jpg_kb = sum(osp.getsize(osp.join(data, 'posed_images', 'scene0000_00', f))
                 for f in jpgs) / len(jpgs) / 1024
    out = {}
    for source in ('sens', 'posed'):
        pairs = osp.join(data, f'pairs_{source}')
        kwargs = dict(sens_root=osp.join(data, 'scans')) if source == 'sens' else dict(
            posed_images_root=osp.join(data, 'posed_images'))
        summary = convert_scannet_frames(pairs, split_dir=data, frame_skip=1, progress=False,
                                         **kwargs)
        assert not summary.skipped and summary.converted == 2 * frames, summary
        out[f'{source} frames/s'] = summary.frames_per_s
    ds = DATASETS.build(dict(type='ScanNetFramePairDataset',
                             data_root=osp.join(data, 'pairs_sens'),
                             ann_file='scannet_frames_infos_train.pkl', pipeline=PIPELINE))
    ds[0]  # warm-up
    t = time.perf_counter()
    for i in range(len(ds)):
        sample = ds[i]
    out['reader pairs/s'] = len(ds) / (time.perf_counter() - t)
    assert tuple(sample['inputs']['img'].shape) == (3, 224, 224)
    out.update(frames=2 * frames, pairs_read=len(ds), jpg_kb=jpg_kb,
               sens_mb_per_frame=osp.getsize(sens) / frames / 2 ** 20, render_s=render_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=40, help='demo-sized frames per scan')
    parser.add_argument('--real-frames', type=int, default=24,
                        help='real-sized frames per scan (4 distinct views repeated)')
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    sizes = [('demo', (320, 240), (160, 120), args.frames, None),
             ('ScanNet', (1296, 968), (640, 480), args.real_frames, 4)]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(name, c, d, measure(tmp, name, c, d, n, u)) for name, c, d, n, u in sizes]
    print(machine_line())
    print('ScanNet frame pairs: converter (every frame, 20000 points per pair, 1 process) and '
          'reader (ScanNetFramePairDataset, full pipeline to a packed 4096-point + 224x224 '
          'sample, 1 process)')
    header = (f'| {"frames":<8} | {"colour":>9} | {"depth":>7} | {"JPEG KB":>7} | '
              f'{".sens MB/frame":>14} | {"convert .sens frames/s":>22} | '
              f'{"convert posed frames/s":>22} | {"reader pairs/s":>14} |')
    print(header)
    print('|' + '|'.join('-' * len(c) for c in header.split('|')[1:-1]) + '|')
    for name, c, d, r in rows:
        print(f'| {name:<8} | {c[0]:>4}x{c[1]:<4} | {d[0]:>3}x{d[1]:<3} | {r["jpg_kb"]:7.0f} | '
              f'{r["sens_mb_per_frame"]:14.2f} | {r["sens frames/s"]:22.1f} | '
              f'{r["posed frames/s"]:22.1f} | {r["reader pairs/s"]:14.1f} |')
    real = rows[1][3]
    print(f'ScanNet v2 train+val has ~2.5M frames; every 25th -> ~100k pairs: about '
          f'{100e3 / real["sens frames/s"] / 3600:.1f} h of conversion in one process at the '
          f'.sens rate above (plus reading the skipped frames\' headers).')


if __name__ == '__main__':
    main()
