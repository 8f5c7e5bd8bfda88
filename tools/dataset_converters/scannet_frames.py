"""ScanNet v2 RGB-D frames -> (point cloud, image) pairs for concept distillation pre-training::

    python tools/dataset_converters/scannet_frames.py --sens-root SCANNET/scans \
        --split-dir DIR --out data/scannet_frames [--frame-skip 25] [--points-per-frame 20000]
        [--min-points 4096] [--max-depth M] [--workers N] [--seed 0]
    python tools/dataset_converters/scannet_frames.py --posed-images-root data/scannet/posed_images
        --split-dir DIR --out data/scannet_frames [...] [--depth-shift 1000]

``--sens-root`` is ScanNet's ``scans/`` folder (``<scene>/<scene>.sens``); ``--posed-images-root``
mmdet3d's ``posed_images/`` (``<scene>/NNNNN.jpg``, ``NNNNN.txt``, ``intrinsic.txt``) plus
depth ``NNNNN.png`` and ``intrinsic_depth.txt``, which mmdet3d's extraction does not write.
Every ``--frame-skip``-th frame becomes a pair ``OUT/frames/<scene>/<scene>_<frame:06d>.{npy,jpg}``
((M, 6) x y z r g b in the depth camera frame, metres; the colour JPEG); the pairs of the scenes
of ``DIR/scannetv2_{train,val}.txt`` (without ``--split-dir``: a deterministic scene-level split,
``--val-fraction``) are listed in ``OUT/scannet_frames_infos_{train,val}.pkl``. Unreadable frames
(and frames with fewer than ``--min-points`` valid points) are named and skipped; a scan that
cannot be opened is left out (exit status 1 after the summary); a re-run reuses the pairs
written.
"""
import argparse
import sys

from pt3kd_mm.datasets.converters.scannet_frames import convert_scannet_frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--sens-root', help="ScanNet's scans/ folder: <scene>/<scene>.sens")
    src.add_argument('--posed-images-root',
                     help="mmdet3d's posed_images/ folder (with depth NNNNN.png and "
                     "intrinsic_depth.txt per scene)")
    parser.add_argument('--out', default='data/scannet_frames',
                        help='output root (default data/scannet_frames)')
    parser.add_argument('--split-dir', help='folder with scannetv2_train.txt and '
                        'scannetv2_val.txt (ScanNet\'s Tasks/Benchmark, or mmdet3d\'s '
                        'data/scannet/meta_data)')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='without --split-dir: the fraction of scan groups (sceneXXXX) '
                        'put in val by a deterministic hash order (default 0.2)')
    parser.add_argument('--frame-skip', type=int, default=25, help='default 25')
    parser.add_argument('--points-per-frame', type=int, default=20000, help='default 20000')
    parser.add_argument('--min-points', type=int, default=4096,
                        help='skip frames with fewer valid coloured points (default 4096, '
                        'what PointSubsample(4096) needs)')
    parser.add_argument('--max-depth', type=float,
                        help='drop depth beyond this many metres (default: keep all)')
    parser.add_argument('--depth-shift', type=float,
                        help='raw depth units per metre (default: the .sens header\'s; 1000 '
                        'for posed images)')
    parser.add_argument('--seed', type=int, default=0, help='point subsampling seed')
    parser.add_argument('--workers', type=int, default=1,
                        help='processes, one scan each (default 1)')
    args = parser.parse_args()
    summary = convert_scannet_frames(
        args.out, sens_root=args.sens_root, posed_images_root=args.posed_images_root,
        split_dir=args.split_dir, val_fraction=args.val_fraction, frame_skip=args.frame_skip,
        points_per_frame=args.points_per_frame, min_points=args.min_points,
        max_depth=args.max_depth, depth_shift=args.depth_shift, seed=args.seed,
        workers=args.workers)
    print(summary)
    return 1 if summary.failed_scans else 0


if __name__ == '__main__':
    sys.exit(main())
