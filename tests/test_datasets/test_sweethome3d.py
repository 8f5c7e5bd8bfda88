"""The SweetHome3D catalogue converter on a synthetic ``.sh3f`` built here (no download)."""
import io
import json
import os
import os.path as osp
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from mmdet3d.registry import DATASETS
from pt3kd_mm.datasets.converters.sweethome3d import (UNLABELLED_SYNSET, ConversionError,
                                                      classify, convert_entry,
                                                      convert_sweethome3d,
                                                      find_catalogues, load_obj_from_zip,
                                                      parse_java_properties, place_model,
                                                      read_catalogue, resolve_member,
                                                      stratified_folds, stratified_split)
from pt3kd_mm.testing import load_tool

NUM_POINTS = 8192

# --- meshes (OBJ text) ------------------------------------------------------------------------
# an axis-aligned box with extents (1, 2, 3), corner at the origin, 12 triangles
BOX_V = np.array([[x, y, z] for x in (0, 1) for y in (0, 2) for z in (0, 3)], dtype=float)
BOX_QUADS = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]


def _obj(vertices, faces, header=''):
    lines = [header] if header else []
    lines += [f'v {x:g} {y:g} {z:g}' for x, y, z in vertices]
    lines += ['f ' + ' '.join(str(i) for i in f) for f in faces]
    return '\n'.join(lines) + '\n'


BOX_TRIS = [t for a, b, c, d in BOX_QUADS for t in ((a, b, c), (a, c, d))]
BOX_OBJ = _obj(BOX_V, BOX_TRIS)
# the same box as quads (trimesh keeps a group of quads as quads), with materials
LAMP_OBJ = _obj(BOX_V, BOX_QUADS, header='mtllib lamp.mtl\no shade\nusemtl shade')
LAMP_MTL = 'newmtl shade\nKd 1 0 0\nmap_Kd missing_texture.jpg\n'
# a pyramid authored z-up: square base (+-1, +-1, 0), apex (0, 0, 2)
PYR_V = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0], [0, 0, 2]], dtype=float)
PYR_F = [(1, 2, 5), (2, 3, 5), (3, 4, 5), (4, 1, 5), (1, 3, 2), (1, 4, 3)]
PYR_OBJ = _obj(PYR_V, PYR_F)
Z_UP_TO_Y_UP = '1 0 0 0 0 1 0 -1 0'  # (x, y, z) -> (x, z, -y)

# --- the catalogue --------------------------------------------------------------------------
HEADER = (  # hand-written: comments, catalogue keys, escapes
    '# PluginFurnitureCatalog.properties of a test catalogue \\\n'
    'id=Test#Catalogue\n'
    '! another comment style\n'
    'name = Test catalogue\n'
    'license=CC0\n')


def _entry(i, name, model, w, d, h, category='Living room', rotation=None, icon=None,
           skip=(), name_raw=None):
    fields = dict(id=f'Test#{name.lower().replace(" ", "-")}-{i}', name=name_raw or name,
                  category=category, icon=icon or '/icons/icon.png', model=model, width=w,
                  depth=d, height=h, modelRotation=rotation, creator='Ren\xe9')
    return ''.join(f'{k}#{i}={v}\n' for k, v in fields.items()
                   if v is not None and k not in skip) + '\n'


def _icon_png() -> bytes:
    img = Image.new('RGBA', (8, 8), (200, 30, 30, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))  # transparent black -> white in the output
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def _write_sh3f(path, properties: str, files: dict) -> None:
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('PluginFurnitureCatalog.properties', properties.encode('latin-1'))
        for name, data in files.items():
            zf.writestr(name, data)


CHAIRS_A = 10  # box chairs in catalogue A (+ 2 in B)
TABLES = 6  # rotated pyramids
BROKEN = {  # name -> (failure kind, entry fields)
    'Broken chair': 'missing model', 'Bad mesh': 'unreadable mesh', 'Lines only': 'no faces',
    'Flat thing': 'zero area', 'No width': 'bad catalogue entry', 'No icon': 'missing icon'}


def _catalogue_a() -> str:
    text, i = HEADER, 0
    for k in range(CHAIRS_A):
        i += 1
        if k == 1:  # an escape in the name
            text += _entry(i, 'Cafe chair', '/models/box.obj', 40 + k, 50, 90,
                           name_raw='Caf\\u00e9 chair')
        elif k == 2:  # a continuation line in the name
            text += _entry(i, 'Office chair', '/models/box.obj', 40 + k, 50, 90,
                           name_raw='Office \\\n    chair')
        else:
            text += _entry(i, 'Chair', '/models/box.obj', 40 + k, 50, 90)
    for k in range(TABLES):
        i += 1
        text += _entry(i, 'Coffee table' if k % 2 else 'Table', '/models/pyramid.obj', 120, 80,
                       75, rotation=Z_UP_TO_Y_UP)
    for k in range(2):  # 'lamp' has too few members: unlabelled
        i += 1
        text += _entry(i, 'Lamp', '/sub/lamp/', 30, 30, 60, category='Lights')
    i += 1
    text += _entry(i, 'Rock', '/models/box.obj', 50, 40, 30, category='Exterior')  # no rule
    for name, model in (('Broken chair', '/models/missing.obj'),
                        ('Bad mesh', '/broken/outofrange.obj'),
                        ('Lines only', '/broken/lines.obj'), ('Flat thing', '/broken/flat.obj'),
                        ('No width', '/models/box.obj'), ('No icon', '/models/box.obj')):
        i += 1
        text += _entry(i, name, model, 10, 10, 10, category='Miscellaneous',
                       skip=('width', ) if name == 'No width' else (),
                       icon='/icons/nowhere.png' if name == 'No icon' else None)
    return text


ENTRIES_A = CHAIRS_A + TABLES + 2 + 1 + len(BROKEN)


def _catalogue_b() -> str:
    # indices 1 and 3 (a gap); index 1 has the same id as catalogue A's first chair
    return (HEADER + _entry(1, 'Chair', '/m/box.obj', 45, 45, 95)
            + _entry(3, 'Bar chair', 'm/box.obj', 40, 40, 110))


@pytest.fixture(scope='module')
def catalogue_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('sh3f')
    icon = _icon_png()
    _write_sh3f(root / 'TestA.sh3f', _catalogue_a(), {
        'models/box.obj': BOX_OBJ, 'models/pyramid.obj': PYR_OBJ, 'sub/lamp/lamp.obj': LAMP_OBJ,
        'sub/lamp/lamp.mtl': LAMP_MTL, 'broken/outofrange.obj': 'v 0 0 0\nv 1 0 0\nf 1 2 9\n',
        'broken/lines.obj': 'v 0 0 0\nv 1 0 0\nl 1 2\n',
        'broken/flat.obj': 'v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n', 'icons/icon.png': icon})
    _write_sh3f(root / 'TestB.sh3f', _catalogue_b(), {'m/box.obj': BOX_OBJ,
                                                      'icons/icon.png': icon})
    (root / 'notes.txt').write_text('not a catalogue')
    return str(root)


@pytest.fixture(scope='module')
def converted(catalogue_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('sh3d_out'))
    summary = convert_sweethome3d(catalogue_dir, out, num_points=NUM_POINTS, num_folds=5,
                                  seed=0, min_class_size=5, progress=False)
    with open(osp.join(out, 'sweethome3d_meta.json')) as f:
        meta = json.load(f)
    return out, summary, meta


def _lines(path):
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def _metric(out, rec):
    cloud = np.load(osp.join(out, 'shapenet_pc', rec['file']))
    return cloud, cloud.astype(np.float64) * rec['radius_m'] + np.asarray(rec['centre_m'])


# --- the parser -----------------------------------------------------------------------------
def test_parse_java_properties_against_hand_written_expectations():
    text = ('# a comment ending in a backslash does not continue \\\n'
            'plain=value\n'
            '! bang comment\n'
            '\n'
            '   indented = spaced value  \n'
            'colon:x\n'
            'space sep\n'
            'a\\=b\\:c=d\n'
            'uni=caf\\u00e9 \\u20AC\n'
            'tab=a\\tb\\n\n'
            'cont=first \\\n'
            '     second\\\n'
            'third\n'
            'even=C:\\\\\n'
            'next=after\n'
            'hash=one \\\n'
            '  # not a comment\n'
            'empty=\n'
            'lonely\n'
            'dup=1\r\n'
            'dup=2\r'
            'other\\ key = v\\x\n'
            'last=end \\')
    assert parse_java_properties(text) == {
        'plain': 'value', 'indented': 'spaced value  ', 'colon': 'x', 'space': 'sep',
        'a=b:c': 'd', 'uni': 'caf\xe9 \u20ac', 'tab': 'a\tb\n', 'cont': 'first secondthird',
        'even': 'C:\\', 'next': 'after', 'hash': 'one # not a comment', 'empty': '',
        'lonely': '', 'dup': '2', 'other key': 'vx', 'last': 'end '}
    # bytes are ISO-8859-1, as Java reads them
    assert parse_java_properties(b'name=Ren\xe9') == {'name': 'Ren\xe9'}
    with pytest.raises(ValueError, match=r'cat\.properties, line 2: malformed \\uxxxx'):
        parse_java_properties('ok=1\nbad=\\u12G4\n', 'cat.properties')


def test_read_catalogue(catalogue_dir):
    cat = read_catalogue(osp.join(catalogue_dir, 'TestA.sh3f'))
    assert cat.stem == 'TestA' and cat.properties['name'] == 'Test catalogue'
    assert cat.properties['id'] == 'Test#Catalogue' and 'license' in cat.properties
    assert len(cat.entries) == ENTRIES_A
    assert [e.index for e in cat.entries] == list(range(1, ENTRIES_A + 1))
    e2, e3 = cat.entries[1], cat.entries[2]
    assert e2.name == 'Caf\xe9 chair' and e3.name == 'Office chair'
    assert e2.creator == 'Ren\xe9' and e2.width == 41.0 and e2.model == '/models/box.obj'
    table = cat.entries[CHAIRS_A]
    np.testing.assert_array_equal(table.model_rotation,
                                  [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert cat.entries[0].model_rotation is None and not cat.entries[0].problems
    no_width = [e for e in cat.entries if e.name == 'No width'][0]
    assert no_width.problems == [f'no width#{no_width.index}']
    b = read_catalogue(osp.join(catalogue_dir, 'TestB.sh3f'))
    assert [e.index for e in b.entries] == [1, 3]  # a gap loses nothing
    with pytest.raises(ValueError, match=r'notes.txt: not a SweetHome3D catalogue'):
        read_catalogue(osp.join(catalogue_dir, 'notes.txt'))
    found = [osp.basename(p) for p in find_catalogues(catalogue_dir)]
    assert found == ['TestA.sh3f', 'TestB.sh3f']  # not notes.txt


def test_resolve_member_and_obj_loading(catalogue_dir):
    with zipfile.ZipFile(osp.join(catalogue_dir, 'TestA.sh3f')) as zf:
        assert resolve_member(zf, '/models/box.obj') == 'models/box.obj'
        assert resolve_member(zf, '/sub/lamp/') == 'sub/lamp/lamp.obj'  # a folder
        assert resolve_member(zf, 'sub%2Flamp%2Flamp.obj') == 'sub/lamp/lamp.obj'
        with pytest.raises(ConversionError, match=r"'/models/missing.obj' is not in") as err:
            resolve_member(zf, '/models/missing.obj')
        assert err.value.kind == 'missing model'
        v, f = load_obj_from_zip(zf, 'sub/lamp/lamp.obj')  # quads + an MTL: triangulated
        assert v.shape == (8, 3) and f.shape == (12, 3)
        with pytest.raises(ConversionError) as err:
            load_obj_from_zip(zf, 'broken/lines.obj')
        assert err.value.kind == 'no faces'


def test_place_model_rotates_centres_and_scales_as_sweethome3d():
    # the pyramid authored z-up, 120 x 80 x 75 cm: apex up (y), base at the bottom
    rot = np.array([float(x) for x in Z_UP_TO_Y_UP.split()]).reshape(3, 3)
    faces = np.array(PYR_F) - 1
    placed, flat = place_model(PYR_V, faces, (120, 80, 75), rot)
    expect = np.array([[-0.6, -0.375, 0.4], [0.6, -0.375, 0.4], [0.6, -0.375, -0.4],
                       [-0.6, -0.375, -0.4], [0, 0.375, 0]])
    np.testing.assert_allclose(placed, expect, atol=1e-12)
    assert flat == []
    # without the rotation the apex points along z (depth)
    placed, _ = place_model(PYR_V, faces, (120, 80, 75))
    np.testing.assert_allclose(placed[4], [0, 0, 0.4], atol=1e-12)
    # a flat model stays flat along its zero extent
    placed, flat = place_model(np.array([[0, 0, 0], [2, 0, 0], [0, 0, 4.]]),
                               np.array([[0, 1, 2]]), (10, 20, 30))
    assert flat == [1]
    np.testing.assert_allclose(np.ptp(placed, 0), [0.1, 0, 0.2])


def _surface_distance(points, vertices, faces):
    """(N,) distance of each point to the nearest triangle it projects into (inf if none)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))  # (F, 3)
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    rel = points[:, None, :] - a[None]  # (N, F, 3)
    dist = np.einsum('nfd,fd->nf', rel, n)
    q = rel - dist[..., None] * n[None]
    v0, v1 = b - a, c - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = np.einsum('nfd,fd->nf', q, v0), np.einsum('nfd,fd->nf', q, v1)
    den = d00 * d11 - d01 * d01
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    inside = (v >= -1e-6) & (w >= -1e-6) & (v + w <= 1 + 1e-6)
    return np.where(inside, np.abs(dist), np.inf).min(1)


def test_clouds_sizes_rotation_and_surface(converted, catalogue_dir):
    out, summary, meta = converted
    recs = {(r['catalogue'], r['index']): r for r in meta['models']}
    # a box chair: 41 x 50 x 90 cm
    chair = recs[('TestA', 2)]
    assert chair['name'] == 'Caf\xe9 chair' and chair['class'] == 'chair'
    assert (chair['width_m'], chair['depth_m'], chair['height_m']) == (0.41, 0.5, 0.9)
    cloud, pts = _metric(out, chair)
    assert cloud.shape == (NUM_POINTS, 3) and cloud.dtype == np.float32
    # stored normalised to the unit sphere (NormalizeToUnitSphere is then a no-op)
    np.testing.assert_allclose(cloud.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(cloud, axis=1).max(), 1, rtol=1e-5)
    # bounding box = catalogue size (x width, y height, z depth), centred
    np.testing.assert_allclose(pts.min(0), [-0.205, -0.45, -0.25], atol=1e-5)
    np.testing.assert_allclose(pts.max(0), [0.205, 0.45, 0.25], atol=1e-5)
    # area-weighted AFTER the non-uniform scaling: the x faces hold h*d / total area
    on_x = np.isclose(np.abs(pts[:, 0]), 0.205, atol=1e-6).mean()
    area = 2 * (0.9 * 0.5 + 0.41 * 0.5 + 0.41 * 0.9)
    assert abs(on_x - 2 * 0.9 * 0.5 / area) < 5 * np.sqrt(0.25 / NUM_POINTS)
    # on the surface of the placed mesh
    placed, _ = place_model(BOX_V, np.array(BOX_TRIS) - 1, (41, 50, 90))
    assert _surface_distance(pts, placed, np.array(BOX_TRIS) - 1).max() < 1e-5
    assert chair['area_m2'] == pytest.approx(area, rel=1e-9)

    # a rotated pyramid table: the apex goes up, the base is the bottom face
    table = recs[('TestA', CHAIRS_A + 1)]
    assert table['class'] == 'table' and table['model_rotation'] == [1, 0, 0, 0, 0, 1, 0, -1, 0]
    _, pts = _metric(out, table)
    # x / z extremes lie on the base's edges only: equal within sampling tolerance
    np.testing.assert_allclose(pts.min(0), [-0.6, -0.375, -0.4], atol=0.01)
    np.testing.assert_allclose(pts.max(0)[[0, 2]], [0.6, 0.4], atol=0.01)
    assert pts[:, 1].min() == pytest.approx(-0.375, abs=1e-6)  # the base plane
    assert 0.375 - 0.0375 < pts[:, 1].max() <= 0.375 + 1e-6  # few samples near the apex
    base = pts[np.isclose(pts[:, 1], -0.375, atol=1e-6)]
    assert len(base) > 0.2 * NUM_POINTS
    np.testing.assert_allclose(np.ptp(base, 0)[[0, 2]], [1.2, 0.8], atol=0.02)
    top = pts[pts[:, 1] > 0.375 - 0.075]  # the top 10 % of the height: near the axis
    assert len(top) > 0 and np.abs(top[:, 0]).max() <= 0.06 + 1e-6
    assert np.abs(top[:, 2]).max() <= 0.04 + 1e-6
    faces = np.array(PYR_F) - 1
    rot = np.array([float(x) for x in Z_UP_TO_Y_UP.split()]).reshape(3, 3)
    placed, _ = place_model(PYR_V, faces, (120, 80, 75), rot)
    assert _surface_distance(pts, placed, faces).max() < 1e-5

    # the lamp: an OBJ in a sub-folder (model#N names the folder), quads, MTL ignored
    lamp = recs[('TestA', CHAIRS_A + TABLES + 1)]
    _, pts = _metric(out, lamp)
    np.testing.assert_allclose(np.ptp(pts, 0), [0.3, 0.6, 0.3], atol=1e-5)
    # the cloud depends on the seed only (not on the order of conversion)
    entry = read_catalogue(osp.join(catalogue_dir, 'TestA.sh3f')).entries[0]
    with zipfile.ZipFile(osp.join(catalogue_dir, 'TestA.sh3f')) as zf:
        c1, c2, c3 = (convert_entry(zf, entry, 64, s)[0] for s in (7, 7, 8))
    np.testing.assert_array_equal(c1, c2)
    assert not np.allclose(c1, c3)


def test_icons_names_and_metadata(converted):
    out, _, meta = converted
    rec = meta['models'][0]
    img = Image.open(osp.join(out, 'shapenet_img', rec['file'][:-4] + '.png'))
    assert img.mode == 'RGB' and img.size == (8, 8)
    assert img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((3, 3)) == (200, 30, 30)
    names = {r['name'] for r in meta['models']}
    assert {'Caf\xe9 chair', 'Office chair', 'Coffee table', 'Lamp', 'Rock'} <= names
    assert meta['settings'] == dict(num_points=NUM_POINTS, folds=5, seed=0, min_class_size=5,
                                    test_fraction=0.2)
    assert meta['catalogues']['TestA']['license'] == 'CC0'
    assert [r['name'] for r in meta['class_rule']][:3] == ['person', 'animal', 'vehicle']
    # ids: unique and file-name safe, also for the id that catalogue B repeats
    ids = [r['model_id'] for r in meta['models']]
    assert len(set(ids)) == len(ids) and 'Test_chair-1' in ids and 'Test_chair-1_TestB_1' in ids


def test_texts_file_names_every_converted_model(converted):
    out, summary, meta = converted
    with open(osp.join(out, 'sweethome3d_texts.json'), encoding='utf-8') as f:
        texts = json.load(f)
    # one text per stored cloud, labelled and unlabelled, keyed like the split files' lines
    clouds = sorted(n[:-len('.npy')] for n in os.listdir(osp.join(out, 'shapenet_pc')))
    assert sorted(texts) == clouds and list(texts) == sorted(texts)
    assert len(texts) == summary.converted + summary.reused
    assert texts == {r['file'][:-len('.npy')]: r['name'] for r in meta['models']}
    unlabelled = _lines(osp.join(out, 'ShapeNet-55', 'unlabelled.txt'))
    assert unlabelled and all(n[:-len('.npy')] in texts for n in unlabelled)
    rec = next(r for r in meta['models'] if r['name'] == 'Caf\xe9 chair')
    assert texts[f'{rec["synset"]}-{rec["model_id"]}'] == 'Caf\xe9 chair'


def test_failures_are_listed_never_dropped(converted):
    out, summary, meta = converted
    with open(osp.join(out, 'sweethome3d_failures.json')) as f:
        failures = json.load(f)
    assert {f['name']: f['kind'] for f in failures} == BROKEN
    assert failures == summary.failures == meta['failures']
    missing = [f for f in failures if f['name'] == 'Broken chair'][0]
    assert "'/models/missing.obj' is not in" in missing['reason']
    bad = [f for f in failures if f['name'] == 'Bad mesh'][0]['reason']
    assert 'TestA.sh3f!broken/outofrange.obj: IndexError' in bad
    assert [f for f in failures if f['name'] == 'No width'][0]['reason'].startswith('no width#')
    # every catalogue entry is either converted or listed
    assert len(meta['models']) + len(failures) == ENTRIES_A + 2
    assert summary.catalogues == {
        'TestA': dict(models=ENTRIES_A, converted=ENTRIES_A - len(BROKEN), failed=len(BROKEN)),
        'TestB': dict(models=2, converted=2, failed=0)}
    text = str(summary)
    assert 'failures by reason:' in text and "TestA#" in text and 'Broken chair' in text
    assert summary.failures_by_kind == {k: 1 for k in sorted(BROKEN.values())}
    listed = set()
    for name in os.listdir(osp.join(out, 'ShapeNet-55')):
        if name.endswith('.txt'):
            listed.update(_lines(osp.join(out, 'ShapeNet-55', name)))
    assert not any('Broken' in n or 'bad-mesh' in n for n in listed)


def test_classes_splits_folds_and_the_dataset(converted):
    out, summary, meta = converted
    chairs, tables = CHAIRS_A + 2, TABLES
    assert summary.classes == {'chair': chairs, 'table': tables}
    assert summary.too_small == {'lamp': 2} and summary.unlabelled == 3
    split_dir = osp.join(out, 'ShapeNet-55')
    train, test = _lines(osp.join(split_dir, 'train.txt')), _lines(osp.join(split_dir, 'test.txt'))
    unl = _lines(osp.join(split_dir, 'unlabelled.txt'))
    assert not set(train) & set(test) and len(train) + len(test) == chairs + tables
    assert sorted(_lines(osp.join(split_dir, 'pretrain.txt'))) == sorted(train + unl)
    assert sorted(_lines(osp.join(split_dir, 'labelled.txt'))) == sorted(train + test)
    assert len(unl) == 3 and all(n.startswith(UNLABELLED_SYNSET + '-') for n in unl)
    cls_of = {r['file']: r['class'] for r in meta['models']}
    # stratified: round(0.2 n) of each class in test
    assert sorted(cls_of[n] for n in test) == ['chair'] * 2 + ['table'] * 1
    # folds: each labelled model in exactly one fold, each class spread evenly
    folds = [_lines(osp.join(split_dir, f'fold_{i}.txt')) for i in range(5)]
    flat = [n for fold in folds for n in fold]
    assert sorted(flat) == sorted(train + test)
    for cls, n in (('chair', chairs), ('table', tables)):
        per_fold = [sum(cls_of[m] == cls for m in fold) for fold in folds]
        assert sum(per_fold) == n and set(per_fold) <= {n // 5, n // 5 + 1}
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1 and sizes == summary.folds
    # deterministic and independent of the dict order
    labels = {r['model_id']: r['class'] for r in meta['models'] if r['class']}
    reordered = dict(reversed(list(labels.items())))
    assert stratified_split(reordered, 0.2, 0) == stratified_split(labels, 0.2, 0)
    assert stratified_folds(reordered, 5, 0) == stratified_folds(labels, 5, 0)
    assert stratified_split(labels, 0.2, 1) != stratified_split(labels, 0.2, 0)

    pipeline = [dict(type='LoadPointCloudNpy'), dict(type='NormalizeToUnitSphere'),
                dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('category', ))]
    ds = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=out,
                             ann_file='ShapeNet-55/train.txt', pipeline=pipeline))
    assert ds.metainfo['classes'] == ('chair', 'table', 'unlabelled')
    assert ds.metainfo['names_file'] == osp.join(out, 'shapenet55.json')
    assert len(ds) == len(train)
    assert {ds.get_data_info(i)['category_name'] for i in range(len(ds))} == {'chair', 'table'}
    info = ds.get_data_info(0)
    assert osp.isfile(info['img_path'])
    item = ds[0]
    np.testing.assert_allclose(np.asarray(item['inputs']['points']),
                               np.load(info['pc_path']), atol=1e-5)  # already normalised
    # taxonomy.json names the same classes; synset-named classes give the same ids
    by_synset = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=out,
                                    ann_file='ShapeNet-55/test.txt', names_file=None,
                                    pipeline=[]))
    test_ds = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=out,
                                  ann_file='ShapeNet-55/test.txt',
                                  names_file='ShapeNet-55/taxonomy.json', pipeline=[]))
    assert len(test_ds) == len(test) and by_synset.metainfo['classes'] == tuple(
        sorted({n.split('-')[0] for n in train + test}))
    assert [by_synset.get_data_info(i)['category'] for i in range(len(test))] == [
        test_ds.get_data_info(i)['category'] for i in range(len(test))]
    pre = DATASETS.build(dict(type='ShapeNet55Dataset', data_root=out,
                              ann_file='ShapeNet-55/pretrain.txt', pipeline=[]))
    names = [pre.get_data_info(i)['category_name'] for i in range(len(pre))]
    assert names.count('unlabelled') == 3 and len(names) == len(train) + 3
    assert {pre.get_data_info(i)['category'] for i in range(len(pre))} == {0, 1, 2}
    assert classify('Office chair', 'Office') == 'chair'
    assert classify('Table tennis bat', 'Miscellaneous') is None
    assert classify('Futon couch', 'Living room') == 'sofa'


def _snapshot(out, sub):
    """file name -> (mtime, bytes) of the files of ``out/sub``."""
    files = {}
    for name in sorted(os.listdir(osp.join(out, sub))):
        with open(osp.join(out, sub, name), 'rb') as f:
            files[name] = (os.stat(osp.join(out, sub, name)).st_mtime_ns, f.read())
    return files


def _contents(out):
    files = {sub: {k: v[1] for k, v in _snapshot(out, sub).items()}
             for sub in ('shapenet_pc', 'shapenet_img', 'ShapeNet-55')}
    with open(osp.join(out, 'sweethome3d_texts.json'), 'rb') as f:
        files['texts'] = f.read()
    return files


def test_rerun_reuses_renames_and_cleans_up(catalogue_dir, tmp_path):
    out = str(tmp_path / 'out')
    first = convert_sweethome3d(catalogue_dir, out, min_class_size=5, progress=False)
    before, clouds = _contents(out), _snapshot(out, 'shapenet_pc')
    again = convert_sweethome3d(catalogue_dir, out, min_class_size=5, progress=False)
    assert (again.converted, again.reused) == (0, first.converted)
    assert _snapshot(out, 'shapenet_pc') == clouds  # not rewritten (the same mtimes)
    assert _contents(out) == before  # the same icons and splits
    # a larger minimum: the tables become unlabelled, their files are renamed, not redone
    third = convert_sweethome3d(catalogue_dir, out, min_class_size=10, progress=False)
    assert third.converted == 0 and third.classes == {'chair': CHAIRS_A + 2}
    assert third.too_small == {'table': TABLES, 'lamp': 2}
    pcs = os.listdir(osp.join(out, 'shapenet_pc'))
    assert len(pcs) == first.converted  # no file left behind under the old synset
    assert sum(n.startswith(UNLABELLED_SYNSET) for n in pcs) == TABLES + 3
    assert len(os.listdir(osp.join(out, 'shapenet_img'))) == first.converted
    # back: the same files as the first run
    convert_sweethome3d(catalogue_dir, out, min_class_size=5, progress=False)
    assert _contents(out) == before
    # other settings: converted again; fewer folds leave no stale fold files
    fourth = convert_sweethome3d(catalogue_dir, out, num_points=256, num_folds=3,
                                 min_class_size=5, progress=False)
    assert fourth.reused == 0 and fourth.converted == first.converted
    assert sorted(n for n in os.listdir(osp.join(out, 'ShapeNet-55'))
                  if n.startswith('fold_')) == ['fold_0.txt', 'fold_1.txt', 'fold_2.txt']
    pcs = os.listdir(osp.join(out, 'shapenet_pc'))
    assert len(pcs) == first.converted
    assert np.load(osp.join(out, 'shapenet_pc', pcs[0])).shape == (256, 3)


def test_command_line(catalogue_dir, tmp_path, monkeypatch, capsys):
    tool = load_tool('tools/dataset_converters/sweethome3d.py')
    argv = ['sweethome3d.py', '--catalogue-dir', catalogue_dir, '--out', str(tmp_path),
            '--num-points', '512', '--folds', '2', '--min-class-size', '5', '--no-progress']
    monkeypatch.setattr(sys, 'argv', argv)
    assert tool.main() == 1  # some models failed: listed, and the exit status says so
    text = capsys.readouterr().out
    assert 'failures by reason:' in text and 'chair' in text and '6 failed' in text
    monkeypatch.setattr(sys, 'argv', argv + ['--allow-failures'])
    assert tool.main() == 0
    assert '0 now, 21 reused' in capsys.readouterr().out
    with open(tmp_path / 'sweethome3d_summary.txt') as f:
        assert '21 converted' in f.read()
    monkeypatch.setattr(sys, 'argv', ['sweethome3d.py', '--catalogue-dir',
                                      str(tmp_path / 'nowhere'), '--out', str(tmp_path)])
    with pytest.raises(FileNotFoundError, match=r'catalogue folder .*nowhere not found'):
        tool.main()
