"""SweetHome3D furniture catalogues (.sh3f) -> the ShapeNet-55 (Point-BERT) layout::

    python tools/dataset_converters/sweethome3d.py --catalogue-dir DIR --out data/sweethome3d \
        [--num-points 8192] [--folds 5] [--seed 0] [--min-class-size 15] [--test-fraction 0.2]

DIR holds the ``*.sh3f`` catalogues, e.g. Debian's package unpacked without installing it::

    apt-get download sweethome3d-furniture && dpkg -x sweethome3d-furniture_*.deb deb/
    # DIR = deb/usr/share/sweethome3d/furniture (licences: deb/usr/share/doc/.../copyright)

Every model becomes ``OUT/shapenet_pc/<synset>-<id>.npy`` (surface points, normalised to the
unit sphere; the metric size is in ``OUT/sweethome3d_meta.json``) and
``OUT/shapenet_img/<synset>-<id>.png`` (its icon); ``OUT/ShapeNet-55/`` gets the stratified
train / test split and the k folds of the labelled models, ``unlabelled.txt`` and
``pretrain.txt`` (train + unlabelled). Class rule, layout and geometry:
``pt3kd_mm/datasets/converters/sweethome3d.py``. A model that fails is listed with its reason
in the summary and ``OUT/sweethome3d_failures.json`` (exit status 1 unless --allow-failures);
a re-run reuses the models already converted.
"""
import argparse
import sys

from pt3kd_mm.datasets.converters.sweethome3d import convert_sweethome3d


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalogue-dir', required=True, help='folder of *.sh3f catalogues')
    parser.add_argument('--out', default='data/sweethome3d',
                        help='output root (default data/sweethome3d)')
    parser.add_argument('--num-points', type=int, default=8192,
                        help='surface points per model (default 8192)')
    parser.add_argument('--folds', type=int, default=5,
                        help='stratified folds over the labelled models (default 5)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seeds the point sampling and the split / fold orders (default 0)')
    parser.add_argument('--min-class-size', type=int, default=15,
                        help='a rule class with fewer converted models stays unlabelled '
                        '(default 15)')
    parser.add_argument('--test-fraction', type=float, default=0.2,
                        help='per class, the fraction of labelled models in test.txt '
                        '(default 0.2)')
    parser.add_argument('--allow-failures', action='store_true',
                        help='exit 0 even when some models failed (they are listed anyway)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args()
    summary = convert_sweethome3d(
        args.catalogue_dir, args.out, num_points=args.num_points, num_folds=args.folds,
        seed=args.seed, min_class_size=args.min_class_size, test_fraction=args.test_fraction,
        progress=not args.no_progress)
    print(summary)
    return 1 if summary.failures and not args.allow_failures else 0


if __name__ == '__main__':
    sys.exit(main())
