"""The ShapeNetPart categories and their part labels (16 categories, 50 parts), shared by the
dataset, the part segmentor (prediction restricted to a category's parts) and the metric."""
from typing import Dict, Tuple

# (category name, synset, part labels) in the order of the benchmark's
# synsetoffset2category.txt: the category label is the index in this tuple; the part labels are
# the reference's ``seg_classes`` (global ids 0..49, contiguous per category)
SHAPENET_PART_CATEGORIES: Tuple[Tuple[str, str, Tuple[int, ...]], ...] = (
    ('Airplane', '02691156', (0, 1, 2, 3)),
    ('Bag', '02773838', (4, 5)),
    ('Cap', '02954340', (6, 7)),
    ('Car', '02958343', (8, 9, 10, 11)),
    ('Chair', '03001627', (12, 13, 14, 15)),
    ('Earphone', '03261776', (16, 17, 18)),
    ('Guitar', '03467517', (19, 20, 21)),
    ('Knife', '03624134', (22, 23)),
    ('Lamp', '03636649', (24, 25, 26, 27)),
    ('Laptop', '03642806', (28, 29)),
    ('Motorbike', '03790512', (30, 31, 32, 33, 34, 35)),
    ('Mug', '03797390', (36, 37)),
    ('Pistol', '03948459', (38, 39, 40)),
    ('Rocket', '04099429', (41, 42, 43)),
    ('Skateboard', '04225987', (44, 45, 46)),
    ('Table', '04379243', (47, 48, 49)),
)
SHAPENET_PART_CLASSES: Tuple[str, ...] = tuple(c[0] for c in SHAPENET_PART_CATEGORIES)
# category label -> its part labels
SHAPENET_PART_CATEGORY_PARTS: Tuple[Tuple[int, ...], ...] = tuple(
    c[2] for c in SHAPENET_PART_CATEGORIES)
SHAPENET_PART_NUM_PARTS = 50


def parts_by_name() -> Dict[str, Tuple[int, ...]]:
    """{category name: its part labels}."""
    return {name: parts for name, _, parts in SHAPENET_PART_CATEGORIES}
