"""Write a small object dataset in the ShapeNet-55 (Point-BERT) layout, procedurally, with no
downloads::

    OUT/ShapeNet-55/{train,test}.txt      <synset>-<id>.npy per line
    OUT/ShapeNet-55/taxonomy.json          [{"synset": ..., "name": ...}]  (class names)
    OUT/shapenet55.json                    the same names in ReCon's layout (catalogue, describe)
    OUT/shapenet_pc/<synset>-<id>.npy      (8192, 3) float32 surface points, y up
    OUT/shapenet_img/<synset>-<id>.png     224 x 224 RGB rendered view (ReCon layout)

and, with --modelnet40, a small dataset of the same shapes in the ModelNet40 layout of
Point-BERT / ReCon (``modelnet40_normal_resampled``)::

    OUT/modelnet40_shape_names.txt         class names (sphere, cube, ...), one per line
    OUT/modelnet40_{train,test}.txt        <class>_<4 digits> per line
    OUT/<class>/<class>_0001.txt           rows 'x,y,z,nx,ny,nz' (normals approximate)

and, with --scannet, synthetic rooms written as raw ScanNet scans and prepared into exactly
mmdet3d's ScanNet layout (``points/*.bin``, instance / semantic masks,
``scannet_infos_{train,val,test}.pkl`` with depth boxes of ScanNet's 18 classes)::

    OUT/scans/, scans_test/, scannetv2-labels.combined.tsv, scannetv2_{train,val,test}.txt
    OUT/scannet_instance_data/, meta_data/, points/, instance_mask/, semantic_mask/,
    OUT/seg_info/, scannet_infos_{train,val,test}.pkl

and, with --scannet-frames, synthetic RGB-D scans (rooms of boxes seen by a moving camera;
colour 320x240 and depth 160x120 with different intrinsics, as ScanNet) written as ScanNet's
raw ``.sens`` files and as mmdet3d's posed-images folders (with depth), for
``tools/dataset_converters/scannet_frames.py``::

    OUT/scans/<scene>/<scene>.sens, OUT/posed_images/<scene>/, scannetv2_{train,val}.txt

Usage: python tools/create_demo_data.py [--out data/demo_shapenet] [--train-per-class 40]
       [--test-per-class 10] [--num-points 8192] [--seed 0]
       python tools/create_demo_data.py --modelnet40
       [--out data/demo_modelnet40/modelnet40_normal_resampled] [--train-per-class 20]
       [--test-per-class 5] [--num-points 2048] [--seed 0]
       python tools/create_demo_data.py --scannet [--out data/scannet_demo] [--num-scenes 4]
       [--num-points 50000] [--seed 0]
       python tools/create_demo_data.py --scannet-frames [--out data/scannet_frames_demo]
       [--num-scenes 2] [--frames-per-scene 50] [--seed 0]
"""
import argparse

from pt3kd_mm.testing.demo_data import CLASSES, create_demo_data, create_modelnet40_demo
from pt3kd_mm.testing.demo_rgbd import create_rgbd_demo
from pt3kd_mm.testing.demo_scannet import create_scannet_demo

# CLI defaults of each layout: out, train / test shapes per class, points per shape
_DEFAULTS = dict(
    shapenet55=('data/demo_shapenet', 40, 10, 8192),
    modelnet40=('data/demo_modelnet40/modelnet40_normal_resampled', 20, 5, 2048))
SCANNET_DEFAULTS = dict(out='data/scannet_demo', num_scenes=4, num_points=50000)
SCANNET_FRAMES_DEFAULTS = dict(out='data/scannet_frames_demo', num_scenes=2,
                               frames_per_scene=50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--modelnet40', action='store_true',
                       help='write the ModelNet40-layout demo instead of the ShapeNet-55 one')
    which.add_argument('--scannet', action='store_true',
                       help='write synthetic ScanNet rooms in mmdet3d\'s ScanNet layout')
    which.add_argument('--scannet-frames', action='store_true',
                       help='write synthetic RGB-D scans as ScanNet .sens files and mmdet3d '
                       'posed-images folders')
    parser.add_argument('--out', help=f'default {_DEFAULTS["shapenet55"][0]}, with '
                        f'--modelnet40 {_DEFAULTS["modelnet40"][0]}, with --scannet '
                        f'{SCANNET_DEFAULTS["out"]}, with --scannet-frames '
                        f'{SCANNET_FRAMES_DEFAULTS["out"]}')
    parser.add_argument('--train-per-class', type=int, help='default 40 / 20 (--modelnet40)')
    parser.add_argument('--test-per-class', type=int, help='default 10 / 5 (--modelnet40)')
    parser.add_argument('--num-points', type=int,
                        help='default 8192 / 2048 (--modelnet40) / 50000 per room (--scannet)')
    parser.add_argument('--num-scenes', type=int, help='--scannet: train + val rooms '
                        f'(default {SCANNET_DEFAULTS["num_scenes"]}; a quarter, at least one, '
                        'for val; one more test scan); --scannet-frames: scans (default '
                        f'{SCANNET_FRAMES_DEFAULTS["num_scenes"]}, a quarter, at least one, '
                        'for val)')
    parser.add_argument('--frames-per-scene', type=int,
                        help='--scannet-frames: RGB-D frames per scan (default '
                        f'{SCANNET_FRAMES_DEFAULTS["frames_per_scene"]})')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    if args.scannet_frames:
        out = args.out or SCANNET_FRAMES_DEFAULTS['out']
        demo = create_rgbd_demo(
            out, num_scenes=args.num_scenes or SCANNET_FRAMES_DEFAULTS['num_scenes'],
            frames_per_scene=args.frames_per_scene or
            SCANNET_FRAMES_DEFAULTS['frames_per_scene'], seed=args.seed)
        num_frames = sum(len(p) for p in demo['poses'].values())
        print(f'wrote {len(demo["poses"])} synthetic RGB-D scans ({num_frames} frames) as '
              f'ScanNet .sens files ({out}/scans) and mmdet3d posed images '
              f'({out}/posed_images), with scannetv2_{{train,val}}.txt')
        return
    if args.scannet:
        out = args.out or SCANNET_DEFAULTS['out']
        known = create_scannet_demo(
            out, num_scenes=args.num_scenes or SCANNET_DEFAULTS['num_scenes'],
            points_per_scene=args.num_points or SCANNET_DEFAULTS['num_points'], seed=args.seed)
        num_objects = sum(o['name'] is not None for objs in known.values() for o in objs)
        print(f'wrote {len(known)} ScanNet demo rooms with {num_objects} objects in '
              f'mmdet3d\'s ScanNet layout to {out}')
        return
    layout = 'modelnet40' if args.modelnet40 else 'shapenet55'
    given = (args.out, args.train_per_class, args.test_per_class, args.num_points)
    out, train, test, num_points = (d if v is None else v
                                    for v, d in zip(given, _DEFAULTS[layout]))
    create = create_modelnet40_demo if args.modelnet40 else create_demo_data
    splits = create(out, train, test, num_points, args.seed)
    print(f'wrote {len(splits["train"])} train and {len(splits["test"])} test shapes of '
          f'{len(CLASSES)} classes in the {layout} layout to {out}')


if __name__ == '__main__':
    main()
