"""Prepare ScanNet v2 for mmdet3d in one command, from the raw download::

    python tools/dataset_converters/prepare_scannet.py --raw-root RAW --out-dir data/scannet \
        [--splits-dir DIR] [--label-map FILE] [--workers N] [--max-num-point 50000]

RAW holds ``scans/<scene>/`` (``_vh_clean_2.ply``, ``.aggregation.json``,
``_vh_clean_2.0.010000.segs.json``, ``<scene>.txt``), optionally ``scans_test/``, and
``scannetv2-labels.combined.tsv``; the split lists ``scannetv2_{train,val,test}.txt`` are read
from ``--splits-dir`` (default RAW). OUT receives mmdet3d's layout: ``scannet_instance_data/``,
``meta_data/``, ``points/``, ``instance_mask/``, ``semantic_mask/``, ``seg_info/`` and
``scannet_infos_{train,val,test}.pkl`` (written by mmdet3d's own converter code). A scene that
fails is named and skipped (exit status 1 after the summary); a re-run extracts only the scenes
not finished yet. Details: docs/scannet.md.
"""
import argparse
import sys

from pt3kd_mm.datasets.converters import prepare_scannet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--raw-root', required=True,
                        help='folder with scans/ and scannetv2-labels.combined.tsv')
    parser.add_argument('--out-dir', default='data/scannet', help='default data/scannet')
    parser.add_argument('--splits-dir', help='folder with scannetv2_{train,val,test}.txt '
                        '(default --raw-root)')
    parser.add_argument('--label-map', help='default RAW/scannetv2-labels.combined.tsv')
    parser.add_argument('--workers', type=int, default=4,
                        help='extraction processes and info-step threads (default 4)')
    parser.add_argument('--max-num-point', type=int,
                        help='keep at most this many random points per scene (mmdet3d '
                        'suggests 50000 for detection only; default: all vertices)')
    args = parser.parse_args()
    summary = prepare_scannet(args.raw_root, args.out_dir, splits_dir=args.splits_dir,
                              label_map_file=args.label_map, workers=args.workers,
                              max_num_point=args.max_num_point)
    return 1 if summary.failed else 0


if __name__ == '__main__':
    sys.exit(main())
