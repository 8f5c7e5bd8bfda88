"""SweetHome3D furniture catalogues (``.sh3f``) -> the ShapeNet-55 (Point-BERT) layout.

Input: the ``.sh3f`` plug-in catalogues of SweetHome3D (e.g. Debian's ``sweethome3d-furniture``,
``usr/share/sweethome3d/furniture/*.sh3f``). A catalogue is a zip holding
``PluginFurnitureCatalog.properties`` (Java properties, ISO-8859-1: ``id#N``, ``name#N``,
``category#N``, ``model#N`` (an OBJ path inside the zip), ``icon#N`` (a PNG path),
``width#N`` / ``depth#N`` / ``height#N`` (cm), ``modelRotation#N`` (9 numbers, a row-major
3x3 matrix), ...), the OBJ/MTL models and the PNG icons.

Geometry, as SweetHome3D places a catalogue piece (``ModelManager``'s normalised model, then
``HomePieceOfFurniture3D``'s scale): the OBJ vertices ``v`` become ``M v`` with ``M`` the
``modelRotation`` matrix (identity when absent), the bounding box of the rotated vertices (those
used by a face) is centred on the origin and each axis is scaled to the catalogue size: x to
``width``, y (up) to ``height``, z to ``depth``, cm -> m. An axis along which the model is flat
(zero extent) stays flat. Then ``num_points`` points are sampled on the surface, area-weighted,
with a generator seeded per model (``seed`` and the model id), so a cloud does not depend on the
other models or on the order of conversion. Materials and textures are ignored (the points
carry no colour); the OBJ is read from the zip in memory (nothing is extracted to disk).

Output (``OUT``)::

    ShapeNet-55/train.txt, test.txt      the LABELLED models, a stratified split (per class, the
                                         first ``round(test_fraction * n)`` models in seeded hash
                                         order go to test)
    ShapeNet-55/unlabelled.txt           the converted models without a class (pre-training only)
    ShapeNet-55/pretrain.txt             train + unlabelled: all that pre-training may see
    ShapeNet-55/labelled.txt             train + test
    ShapeNet-55/fold_<i>.txt             i = 0..k-1: the labelled models of fold i (stratified,
                                         each labelled model in exactly one fold)
    ShapeNet-55/taxonomy.json            [{"synset", "name"}]: the labelled classes in rule order,
    shapenet55.json                      then UNLABELLED_NAME; the same rows in ReCon's layout
    shapenet_pc/<synset>-<id>.npy        (num_points, 3) float32, NORMALISED TO THE UNIT SPHERE
                                         (centroid at 0, farthest point at 1: what the pipeline's
                                         NormalizeToUnitSphere does, so it is a no-op there); x
                                         right, y up, z towards the viewer
    shapenet_img/<synset>-<id>.png       the catalogue icon as the rendered view (RGB; alpha
                                         composited on white)
    sweethome3d_meta.json                settings, class rule, classes, per-catalogue counts and
                                         one record per model: catalogue name (the text), category,
                                         tags, creator, the metric size (width_m, depth_m,
                                         height_m), centre_m and radius_m (metres = stored cloud
                                         * radius_m + centre_m), split, fold, ...
    sweethome3d_failures.json            every catalogue entry that did not convert, with the
                                         reason (also in the summary)
    sweethome3d_texts.json               {"<synset>-<id>": catalogue name} for every converted
                                         model (labelled and unlabelled), sorted by key: the
                                         per-model text of ShapeNet55Dataset(texts_file=...)

The clouds are stored scale-free so that a probe cannot read the class off the object's size
(a 2 m wardrobe and a 5 cm switch both fill the unit sphere); the metric size is only in the
metadata, for whoever wants it.

Class rule (:data:`CLASS_RULES`, :func:`classify`): the first rule whose ``pattern`` matches the
lower-cased catalogue name (word boundaries; ``exclude`` must not match; ``categories``, when
given, must contain the catalogue category) gives the rule class; a rule class with fewer than
``min_class_size`` converted members labels nobody (its models join the unlabelled ones), and a
model that no rule matches is unlabelled. Labelled class ``i`` of the rule table has synset
``'93' + f'{i + 1:06d}'``, the unlabelled ones :data:`UNLABELLED_SYNSET` (sorting last, so the
class ids of train/test are the same whether the names come from taxonomy.json or from the
synsets). The command line is ``tools/dataset_converters/sweethome3d.py``.
"""
import hashlib
import io
import json
import os
import os.path as osp
import re
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

__all__ = [
    'CLASS_RULES', 'ClassRule', 'TEXTS_FILE', 'CatalogueEntry', 'ConversionError', 'ConvertedModel',
    'SweetHome3DCatalogue',
    'SweetHome3DSummary', 'UNLABELLED_NAME', 'UNLABELLED_SYNSET', 'classify',
    'convert_sweethome3d', 'convert_entry', 'find_catalogues', 'icon_to_rgb',
    'load_obj_from_zip',
    'parse_java_properties', 'place_model', 'read_catalogue', 'resolve_member',
    'sample_surface', 'stratified_folds', 'stratified_split'
]

#: bump when the conversion of a model changes, so a re-run reconverts instead of reusing
CONVERTER_VERSION = 1
CATALOGUE_PROPERTIES = 'PluginFurnitureCatalog.properties'
UNLABELLED_NAME = 'unlabelled'
UNLABELLED_SYNSET = '93999999'
META_FILE = 'sweethome3d_meta.json'
FAILURES_FILE = 'sweethome3d_failures.json'
TEXTS_FILE = 'sweethome3d_texts.json'  # '<synset>-<model_id>' -> catalogue name
PARTIAL_FILE = '.sweethome3d_partial.json'  # checkpoint of a run in progress
CHECKPOINT_EVERY = 50  # models converted between checkpoints
SPLIT_DIR = 'ShapeNet-55'


# --------------------------------------------------------------------------------------------
# Java .properties
# --------------------------------------------------------------------------------------------
_WHITESPACE = ' \t\f'
_ESCAPES = {'t': '\t', 'n': '\n', 'r': '\r', 'f': '\f'}


def _logical_lines(text: str) -> Iterable[Tuple[int, str]]:
    """(first natural line number, logical line) pairs, as ``java.util.Properties.LineReader``
    forms them: comment (``#`` / ``!``) and blank lines dropped, leading whitespace skipped, a
    line ending in an odd number of backslashes continued on the next one (whose leading
    whitespace is skipped; the joining backslash dropped). Line ends: ``\\n``, ``\\r``,
    ``\\r\\n``."""
    natural = re.split(r'\r\n|\r|\n', text)
    buf: List[str] = []
    start = 0
    for lineno, line in enumerate(natural, 1):
        if buf:  # a continuation: leading whitespace skipped, '#' is content here
            line = line.lstrip(_WHITESPACE)
        else:
            line = line.lstrip(_WHITESPACE)
            if not line or line[0] in '#!':
                continue
            start = lineno
        trailing = len(line) - len(line.rstrip('\\'))
        if trailing % 2 == 1:
            buf.append(line[:-1])
            continue
        buf.append(line)
        yield start, ''.join(buf)
        buf = []
    if buf:  # a continuation at the end of the file: Java drops the backslash
        yield start, ''.join(buf)


def _unescape(s: str, where: str) -> str:
    """``\\uXXXX``, ``\\t \\n \\r \\f`` and ``\\X -> X`` (Java's ``loadConvert``)."""
    if '\\' not in s:
        return s
    out, i, n = [], 0, len(s)
    while i < n:
        c = s[i]
        if c != '\\':
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:  # a lone trailing backslash: dropped
            break
        c = s[i + 1]
        if c == 'u':
            digits = s[i + 2:i + 6]
            if len(digits) != 4 or not all(d in '0123456789abcdefABCDEF' for d in digits):
                raise ValueError(f'{where}: malformed \\uxxxx escape {s[i:i + 6]!r}')
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(c, c))
            i += 2
    return ''.join(out)


def parse_java_properties(data: Union[str, bytes], source: str = '<properties>') -> Dict[str, str]:
    """Parse a Java ``.properties`` file as ``java.util.Properties.load(InputStream)`` does.

    Args:
        data: the file's bytes (decoded as ISO-8859-1, as Java does) or its text.
        source: the file's name, for error messages.

    Returns:
        key -> value in file order (a repeated key keeps its last value, as in Java). The key
        ends at the first unescaped ``=``, ``:`` or whitespace; whitespace around one ``=`` /
        ``:`` separator is skipped; trailing whitespace of the value is kept.

    Raises:
        ValueError: naming ``source`` and the line for a malformed ``\\uXXXX`` escape.
    """
    text = data.decode('latin-1') if isinstance(data, (bytes, bytearray)) else data
    props: Dict[str, str] = {}
    for lineno, line in _logical_lines(text):
        key_end, value_start, has_sep, backslash = len(line), len(line), False, False
        for i, c in enumerate(line):
            if not backslash and c in '=:':
                key_end, value_start, has_sep = i, i + 1, True
                break
            if not backslash and c in _WHITESPACE:
                key_end, value_start = i, i + 1
                break
            backslash = (not backslash) if c == '\\' else False
        while value_start < len(line):
            c = line[value_start]
            if c not in _WHITESPACE:
                if not has_sep and c in '=:':
                    has_sep = True
                else:
                    break
            value_start += 1
        where = f'{source}, line {lineno}'
        props[_unescape(line[:key_end], where)] = _unescape(line[value_start:], where)
    return props


# --------------------------------------------------------------------------------------------
# Catalogues
# --------------------------------------------------------------------------------------------
@dataclass
class CatalogueEntry:
    """One piece of furniture of a catalogue (sizes in cm, as the catalogue writes them).

    ``problems`` lists what is wrong with the entry itself (a missing or malformed key); an
    entry with problems is reported as a failure, never converted.
    """
    catalogue: str  # the .sh3f file's stem, e.g. 'KatorLegaz'
    index: int  # N of the '#N' keys
    id: str
    name: str
    category: str
    model: str  # model#N as written
    icon: str  # icon#N as written
    width: float = float('nan')
    depth: float = float('nan')
    height: float = float('nan')
    model_rotation: Optional[np.ndarray] = None  # (3, 3) row-major, or None (identity)
    tags: str = ''
    creator: str = ''
    problems: List[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """'<catalogue>#<N>', to name the entry in messages."""
        return f'{self.catalogue}#{self.index}'


@dataclass
class SweetHome3DCatalogue:
    """A ``.sh3f`` file: its catalogue-level properties (``name``, ``license``, ...) and its
    entries in index order."""
    path: str
    stem: str
    properties: Dict[str, str]
    entries: List[CatalogueEntry]


_INDEXED_KEY = re.compile(r'^([A-Za-z][A-Za-z0-9_]*)#(\d+)$')


def _size(fields: Mapping[str, str], name: str, index: int, problems: List[str]) -> float:
    key = f'{name}#{index}'
    raw = fields.get(name)
    if raw is None:
        problems.append(f'no {key}')
        return float('nan')
    try:
        value = float(raw)
    except ValueError:
        problems.append(f'{key}={raw!r} is not a number')
        return float('nan')
    if not (np.isfinite(value) and value > 0):
        problems.append(f'{key}={raw!r} is not a positive size')
    return value


def _rotation(fields: Mapping[str, str], index: int,
              problems: List[str]) -> Optional[np.ndarray]:
    key = f'modelRotation#{index}'
    raw = fields.get('modelRotation')
    if raw is None:
        return None
    try:
        values = [float(v) for v in raw.split()]
    except ValueError:
        values = []
    if len(values) != 9 or not np.all(np.isfinite(values)):
        problems.append(f'{key}={raw!r} is not 9 numbers (a row-major 3x3 matrix)')
        return None
    return np.asarray(values, dtype=np.float64).reshape(3, 3)


def read_catalogue(path: str) -> SweetHome3DCatalogue:
    """Read the entries of a ``.sh3f`` catalogue.

    Every index ``N`` that appears in some ``key#N`` is an entry (SweetHome3D itself stops at
    the first missing ``name#N``; here a gap or a missing key becomes a listed problem, so no
    entry is lost silently). Required per entry: ``name``, ``model``, ``icon``, ``width``,
    ``depth``, ``height``; ``id`` defaults to ``'<stem>#<N>'``.

    Raises:
        ValueError: naming the file when it is not a zip or holds no
            ``PluginFurnitureCatalog.properties``.
    """
    stem = osp.splitext(osp.basename(path))[0]
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if CATALOGUE_PROPERTIES not in names:
                found = [n for n in names if n.endswith('.properties')][:5]
                raise ValueError(f'{path}: no {CATALOGUE_PROPERTIES} at the root of the zip '
                                 f'(a SweetHome3D furniture catalogue has one; .properties '
                                 f'found: {found})')
            raw = zf.read(CATALOGUE_PROPERTIES)
    except zipfile.BadZipFile as err:
        raise ValueError(f'{path}: not a SweetHome3D catalogue (.sh3f is a zip): {err}') from None
    props = parse_java_properties(raw, f'{path}!{CATALOGUE_PROPERTIES}')
    indexed: Dict[int, Dict[str, str]] = {}
    catalogue_props: Dict[str, str] = {}
    for key, value in props.items():
        m = _INDEXED_KEY.match(key)
        if m:
            indexed.setdefault(int(m.group(2)), {})[m.group(1)] = value
        else:
            catalogue_props[key] = value
    entries = []
    for index in sorted(indexed):
        fields = indexed[index]
        problems = [f'no {k}#{index}' for k in ('name', 'model', 'icon') if not fields.get(k)]
        entry = CatalogueEntry(
            catalogue=stem, index=index, id=fields.get('id') or f'{stem}#{index}',
            name=fields.get('name', ''), category=fields.get('category', ''),
            model=fields.get('model', ''), icon=fields.get('icon', ''),
            tags=fields.get('tags', ''), creator=fields.get('creator', ''), problems=problems)
        entry.width = _size(fields, 'width', index, problems)
        entry.depth = _size(fields, 'depth', index, problems)
        entry.height = _size(fields, 'height', index, problems)
        entry.model_rotation = _rotation(fields, index, problems)
        entries.append(entry)
    return SweetHome3DCatalogue(path=path, stem=stem, properties=catalogue_props,
                                entries=entries)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
class ConversionError(Exception):
    """A model that cannot be converted: ``kind`` groups the reasons in the summary (e.g.
    'missing model', 'unreadable mesh', 'zero area'), the message says what exactly."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def resolve_member(zf: zipfile.ZipFile, path: str, suffix: str = '.obj') -> str:
    """The zip member that a catalogue path (``model#N`` / ``icon#N``) names.

    The path is relative to the zip root (a leading ``/`` is dropped) and may be URL-encoded. A
    path naming a folder of the zip resolves to the single ``suffix`` file directly in it.

    Raises:
        ConversionError: 'missing model' / 'missing icon' naming the path and the zip.
    """
    kind = 'missing model' if suffix == '.obj' else 'missing icon'
    if '://' in path or path.startswith('jar:'):
        raise ConversionError(kind, f'{path!r} is a URL, not a path inside {zf.filename}')
    names = set(zf.namelist())
    for cand in dict.fromkeys([path.lstrip('/'), urllib.parse.unquote(path).lstrip('/')]):
        if cand in names and not cand.endswith('/'):
            return cand
        folder = cand.rstrip('/') + '/'
        inside = sorted(n for n in names if n.startswith(folder) and '/' not in n[len(folder):]
                        and n.lower().endswith(suffix))
        if len(inside) == 1:
            return inside[0]
        if len(inside) > 1:
            raise ConversionError(kind, f'{path!r} is a folder of {zf.filename} with '
                                  f'{len(inside)} {suffix} files ({inside[:3]}), which one?')
    raise ConversionError(kind, f'{path!r} is not in {zf.filename}')


def load_obj_from_zip(zf: zipfile.ZipFile, member: str) -> Tuple[np.ndarray, np.ndarray]:
    """The triangles of an OBJ inside a zip, read in memory with trimesh (materials skipped).

    Returns:
        vertices (V, 3) float64 and faces (F, 3) int64 of all groups together (polygons
        triangulated, no vertex merging).

    Raises:
        ConversionError: 'unreadable mesh' (trimesh fails), 'no faces', 'non-finite vertices'.
    """
    from trimesh.exchange.obj import load_obj
    raw = zf.read(member)
    try:  # OBJ is text; decoded here (trimesh's own guessing needs charset_normalizer)
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        text = raw.decode('latin-1')
    try:
        kwargs = load_obj(io.StringIO(text), skip_materials=True)
    except Exception as err:  # trimesh raises many kinds on malformed text
        raise ConversionError('unreadable mesh',
                              f'{zf.filename}!{member}: {type(err).__name__}: {err}') from None
    geometry = kwargs.get('geometry', {'': kwargs})
    vertices, faces, offset = [], [], 0
    for name in sorted(geometry):
        part = geometry[name]
        v = np.asarray(part.get('vertices', np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
        f = np.asarray(part.get('faces', np.zeros((0, 3))), dtype=np.int64)
        if f.size == 0:
            continue
        if f.ndim == 2 and f.shape[1] > 3:  # trimesh leaves a group of only quads as quads
            f = np.concatenate([f[:, [0, i, i + 1]] for i in range(1, f.shape[1] - 1)])
        if f.ndim != 2 or f.shape[1] != 3 or f.min() < 0 or f.max() >= len(v):
            raise ConversionError('unreadable mesh', f'{zf.filename}!{member}: group {name!r} '
                                  f'has faces {f.shape} indexing outside its {len(v)} vertices')
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    if not faces:
        raise ConversionError('no faces', f'{zf.filename}!{member} holds no triangles or '
                              f'polygons (f lines)')
    v, f = np.concatenate(vertices), np.concatenate(faces)
    if not np.all(np.isfinite(v[np.unique(f)])):
        raise ConversionError('non-finite vertices', f'{zf.filename}!{member}: a face uses a '
                              f'NaN or infinite vertex')
    return v, f


def place_model(vertices: np.ndarray, faces: np.ndarray, size_cm: Sequence[float],
                model_rotation: Optional[np.ndarray] = None) -> Tuple[np.ndarray, List[int]]:
    """SweetHome3D's placement of a catalogue model: rotate, centre, scale to the size.

    Args:
        vertices: (V, 3) OBJ vertices; faces: (F, 3) indices into them (only the vertices that a
            face uses count for the bounding box).
        size_cm: (width, depth, height) in cm: the x, z and y extents of the result.
        model_rotation: (3, 3) row-major matrix applied as ``M @ v``; None: identity.

    Returns:
        (V, 3) float64 vertices in metres, bounding box centred on the origin with extents
        (width, height, depth) / 100 along (x, y, z), and the axes along which the model is
        flat (zero extent: left flat, unscaled).
    """
    v = np.asarray(vertices, dtype=np.float64)
    if model_rotation is not None:
        v = v @ np.asarray(model_rotation, dtype=np.float64).T
    used = v[np.unique(faces)]
    lo, hi = used.min(0), used.max(0)
    extent = hi - lo
    width, depth, height = (float(s) / 100.0 for s in size_cm)
    target = np.array([width, height, depth])
    flat = [int(a) for a in np.nonzero(extent <= 1e-9 * max(extent.max(), 1e-30))[0]]
    scale = np.where(extent > 1e-9 * max(extent.max(), 1e-30), target / np.maximum(extent, 1e-300),
                     1.0)
    return (v - (lo + hi) / 2) * scale, flat


def _model_seed(seed: int, model_id: str) -> int:
    digest = hashlib.sha256(f'{seed}/{model_id}'.encode()).digest()
    return int.from_bytes(digest[:8], 'little')


def sample_surface(vertices: np.ndarray, faces: np.ndarray, num_points: int,
                   seed: int) -> Tuple[np.ndarray, float]:
    """Area-weighted uniform samples on a triangle mesh.

    Args:
        vertices: (V, 3); faces: (F, 3); num_points: N; seed: the generator's seed.

    Returns:
        (N, 3) float64 points and the total area.

    Raises:
        ConversionError: 'zero area' when every triangle is degenerate.
    """
    tri = vertices[faces]  # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = float(area.sum())
    if not (np.isfinite(total) and total > 0):
        raise ConversionError('zero area', f'the {len(faces)} triangles have zero total area')
    rng = np.random.default_rng(seed)
    which = rng.choice(len(faces), size=num_points, p=area / total)
    r1, r2 = rng.random(num_points), rng.random(num_points)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], 1)  # uniform on a triangle
    return np.einsum('nk,nkd->nd', bary, tri[which]), total


def icon_to_rgb(data: bytes, where: str = '<icon>') -> Image.Image:
    """An icon's bytes -> an RGB image (transparency composited on white).

    Raises:
        ConversionError: 'unreadable icon' naming ``where``.
    """
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as err:
        raise ConversionError('unreadable icon', f'{where}: {type(err).__name__}: {err}') from None
    if img.mode in ('RGBA', 'LA', 'P', 'PA') or 'transparency' in img.info:
        rgba = img.convert('RGBA')
        white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert('RGB')
    return img.convert('RGB')


@dataclass
class ConvertedModel:
    """What :func:`convert_entry` measured (the cloud itself is returned beside it)."""
    centre_m: List[float]
    radius_m: float
    area_m2: float
    num_vertices: int
    num_faces: int
    flat_axes: List[int]


def convert_entry(zf: zipfile.ZipFile, entry: CatalogueEntry, num_points: int,
                  seed: int) -> Tuple[np.ndarray, Image.Image, ConvertedModel]:
    """One catalogue entry -> (cloud, icon, measurements).

    Returns:
        the (num_points, 3) float32 cloud normalised to the unit sphere (metres = cloud *
        radius_m + centre_m), the RGB icon and the measurements.

    Raises:
        ConversionError: with the reason.
    """
    if entry.problems:
        raise ConversionError('bad catalogue entry', '; '.join(entry.problems))
    icon_member = resolve_member(zf, entry.icon, suffix='.png')
    icon = icon_to_rgb(zf.read(icon_member), f'{zf.filename}!{icon_member}')
    member = resolve_member(zf, entry.model, suffix='.obj')
    vertices, faces = load_obj_from_zip(zf, member)
    placed, flat = place_model(vertices, faces, (entry.width, entry.depth, entry.height),
                               entry.model_rotation)
    points, area = sample_surface(placed, faces, num_points, seed)
    centre = points.mean(0)
    radius = float(np.linalg.norm(points - centre, axis=1).max())
    if not radius > 0:
        raise ConversionError('zero area', 'all sampled points coincide')
    cloud = ((points - centre) / radius).astype(np.float32)
    return cloud, icon, ConvertedModel(
        centre_m=[float(c) for c in centre], radius_m=radius, area_m2=area,
        num_vertices=int(len(np.unique(faces))), num_faces=int(len(faces)), flat_axes=flat)


# --------------------------------------------------------------------------------------------
# Classes and splits
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassRule:
    """A class of the rule table: a model whose lower-cased catalogue name matches ``pattern``
    (a regex, searched), does not match ``exclude``, and (if ``categories`` is given) whose
    catalogue category is one of them, belongs to ``name``."""
    name: str
    pattern: str
    exclude: Optional[str] = None
    categories: Optional[Tuple[str, ...]] = None

    def matches(self, name: str, category: str) -> bool:
        """Whether the catalogue ``name`` / ``category`` falls under this rule."""
        text = name.lower()
        if self.categories is not None and category not in self.categories:
            return False
        if self.exclude is not None and re.search(self.exclude, text):
            return False
        return re.search(self.pattern, text) is not None


#: the class rule, tried in order (the first match wins); designed on the 820 models of Debian's
#: sweethome3d-furniture 1.8 (2020) catalogues, where it labels about 500 models in 14 classes
CLASS_RULES: Tuple[ClassRule, ...] = (
    ClassRule('person', r'\b(male|female|boy|girl|mannequin)\b', categories=('Characters', )),
    ClassRule('animal', r'\b(dog|bulldog|cat|horse|chicken|rabbit)\b',
              categories=('Characters', )),
    ClassRule('vehicle', r'.', categories=('Vehicles', )),
    ClassRule('door or window', r'\b(door|window)\b', categories=('Doors and windows', )),
    ClassRule('switch or socket', r'\b(switch|plug|socket)\b'),
    ClassRule('lamp', r'\b(lamps?|lamppost|lights?|spotlight|chandelier|lantern|fluorescent)\b'),
    ClassRule('plant', r'\b(plants?|trees?|bamboo|cactus|ficus|orchids?|tulips?|flowers|yucca|'
              r'pine|palm|maple|cypress|poplar|acacia|bush|hedge|bonsai|spathiphyllum|lily|'
              r'beech|blossom)\b'),
    ClassRule('sofa', r'\b(sofa|couch)\b'),
    ClassRule('bed', r'\b(bed|crib|futon|mattress)\b'),
    ClassRule('chair', r'\b(chair|armchair|stool|seat|bench)\b', exclude=r'\babdominal\b'),
    ClassRule('appliance', r'\b(oven|stove|cooker|cooktop|fridge|refrigerator|freezer|'
              r'microwave|hood|washing machine|dryer)\b'),
    ClassRule('cabinet', r'\b(cabinet|wardrobe|bookcase|shelves|cupboard|dresser|chest|drawers|'
              r'bedside table)\b'),
    ClassRule('table', r'\b(table|desk)\b',
              exclude=r'\btable (fan|tennis)\b|\b(pool|football) table\b'),
    ClassRule('bathroom fixture', r'\b(washbasin|basin|toilets?|bath|bathtub|urinal|bidet|'
              r'vanity|sink|lavatory|shower)\b', exclude=r'\btoilet (brush|paper)\b'),
    ClassRule('tableware', r'\b(glass|glasses|cups?|mug|bowl|plate|bottle|teapot|jar|creamer)\b',
              exclude=r'^glasses$|\bcup cake\b|\bsunglasses\b'),
)


def classify(name: str, category: str,
             rules: Sequence[ClassRule] = CLASS_RULES) -> Optional[str]:
    """The rule class of a catalogue entry (the first matching rule), or None."""
    for rule in rules:
        if rule.matches(name, category):
            return rule.name
    return None


def _hash_order(ids: Iterable[str], seed: int) -> List[str]:
    return sorted(ids, key=lambda i: (hashlib.sha256(f'{seed}:{i}'.encode()).hexdigest(), i))


def stratified_split(labels: Mapping[str, str], test_fraction: float = 0.2,
                     seed: int = 0) -> Dict[str, str]:
    """model id -> 'train' / 'test', per class: the first ``round(test_fraction * n)`` (at least
    1 when n >= 2) of the class's models in the seeded hash order go to test.

    Deterministic: depends only on the ids, their classes and ``seed``, not on dict order.
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f'test_fraction must be in [0, 1), got {test_fraction}')
    by_class: Dict[str, List[str]] = {}
    for model_id, cls in labels.items():
        by_class.setdefault(cls, []).append(model_id)
    out = {}
    for cls in sorted(by_class):
        ordered = _hash_order(by_class[cls], seed)
        n_test = int(round(test_fraction * len(ordered)))
        if test_fraction > 0 and len(ordered) >= 2:
            n_test = min(max(n_test, 1), len(ordered) - 1)
        for rank, model_id in enumerate(ordered):
            out[model_id] = 'test' if rank < n_test else 'train'
    return out


def stratified_folds(labels: Mapping[str, str], num_folds: int = 5,
                     seed: int = 0) -> Dict[str, int]:
    """model id -> fold in ``[0, num_folds)``: each class's models, in the seeded hash order,
    are dealt round-robin, starting where the previous class (sorted by name) stopped, so every
    fold holds ``n // k`` or ``n // k + 1`` models of each class and the folds' sizes differ by
    at most one. Deterministic as :func:`stratified_split`."""
    if num_folds < 2:
        raise ValueError(f'num_folds must be >= 2, got {num_folds}')
    by_class: Dict[str, List[str]] = {}
    for model_id, cls in labels.items():
        by_class.setdefault(cls, []).append(model_id)
    out, start = {}, 0
    for cls in sorted(by_class):
        ordered = _hash_order(by_class[cls], seed + 1)  # not the order of the test split
        for rank, model_id in enumerate(ordered):
            out[model_id] = (start + rank) % num_folds
        start = (start + len(ordered)) % num_folds
    return out


# --------------------------------------------------------------------------------------------
# The whole conversion
# --------------------------------------------------------------------------------------------
@dataclass
class SweetHome3DSummary:
    """What :func:`convert_sweethome3d` did."""
    out: str = ''
    catalogues: Dict[str, Dict[str, int]] = field(default_factory=dict)  # models/converted/failed
    converted: int = 0  # converted in this run
    reused: int = 0  # taken from a previous run
    failures: List[dict] = field(default_factory=list)  # catalogue, index, id, name, kind, reason
    classes: Dict[str, int] = field(default_factory=dict)  # labelled class -> models
    too_small: Dict[str, int] = field(default_factory=dict)  # rule classes below min_class_size
    unlabelled: int = 0
    splits: Dict[str, int] = field(default_factory=dict)  # train / test -> models
    folds: List[int] = field(default_factory=list)  # models per fold
    seconds: float = 0.0
    max_listed: int = 50  # failures listed by str()

    @property
    def failures_by_kind(self) -> Dict[str, int]:
        """reason kind -> failed models."""
        out: Dict[str, int] = {}
        for f in self.failures:
            out[f['kind']] = out.get(f['kind'], 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def __str__(self) -> str:
        total = sum(c['models'] for c in self.catalogues.values())
        ok = self.converted + self.reused
        lines = [f'SweetHome3D -> {self.out}: {total} catalogue models, {ok} converted '
                 f'({self.converted} now, {self.reused} reused), {len(self.failures)} failed; '
                 f'{self.seconds:.1f} s']
        for stem, c in self.catalogues.items():
            lines.append(f'  {stem}: {c["models"]} models, {c["converted"]} converted, '
                         f'{c["failed"]} failed')
        labelled = sum(self.classes.values())
        lines.append(f'  labelled: {labelled} models in {len(self.classes)} classes '
                     f'(train {self.splits.get("train", 0)}, test {self.splits.get("test", 0)}; '
                     f'folds {self.folds}); unlabelled: {self.unlabelled}')
        lines += [f'    {n:4d}  {cls}' for cls, n in self.classes.items()]
        if self.too_small:
            lines.append('  rule classes below --min-class-size (unlabelled): ' + ', '.join(
                f'{cls} {n}' for cls, n in self.too_small.items()))
        if not self.failures:
            lines.append('  failures: none')
        else:
            lines.append('  failures by reason: ' + ', '.join(
                f'{k} {n}' for k, n in self.failures_by_kind.items()))
            lines += [f'    {f["catalogue"]}#{f["index"]} {f["name"]!r}: [{f["kind"]}] '
                      f'{f["reason"]}' for f in self.failures[:self.max_listed]]
            if len(self.failures) > self.max_listed:
                lines.append(f'    ... {len(self.failures) - self.max_listed} more in '
                             f'{FAILURES_FILE}')
        return '\n'.join(lines)


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', text).strip('_.') or 'model'


def _entry_key(entry: CatalogueEntry, zf: zipfile.ZipFile, num_points: int, seed: int) -> str:
    """What a converted model depends on (settings, size, rotation, the OBJ's and the icon's
    zip CRCs): it is reused only when this is unchanged.

    Raises:
        ConversionError: when the model or the icon is not in the zip.
    """
    crcs = []
    for member in (resolve_member(zf, entry.model, '.obj'), resolve_member(zf, entry.icon, '.png')):
        info = zf.getinfo(member)
        crcs.append([member, info.CRC, info.file_size])
    rot = None if entry.model_rotation is None else entry.model_rotation.ravel().tolist()
    blob = json.dumps([CONVERTER_VERSION, num_points, seed, entry.width, entry.depth,
                       entry.height, rot, crcs])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_json(path: str, obj: object) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def _write_lines(path: str, lines: Sequence[str]) -> None:
    with open(path, 'w') as f:
        f.write(''.join(f'{ln}\n' for ln in lines))


def _load_previous(out: str) -> Dict[str, dict]:
    """model id -> record of the previous run (its metadata, then the checkpoint of an
    interrupted run, which is newer)."""
    records: Dict[str, dict] = {}
    for name in (META_FILE, PARTIAL_FILE):
        path = osp.join(out, name)
        if not osp.isfile(path):
            continue
        try:
            with open(path) as f:
                meta = json.load(f)
            records.update({m['model_id']: m for m in meta['models']})
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f'{path} is not the metadata of a previous conversion ({err}); '
                             f'delete it (and the output folder) to convert from scratch'
                             ) from None
    return records


def find_catalogues(catalogue_dir: str) -> List[str]:
    """The ``*.sh3f`` files of a folder, sorted by name.

    Raises:
        FileNotFoundError: naming the folder when it is missing or holds no ``.sh3f``.
    """
    if not osp.isdir(catalogue_dir):
        raise FileNotFoundError(f'catalogue folder {catalogue_dir} not found (Debian: '
                                f'apt-get download sweethome3d-furniture && dpkg -x '
                                f'sweethome3d-furniture_*.deb DIR, then DIR/usr/share/'
                                f'sweethome3d/furniture)')
    paths = sorted(osp.join(catalogue_dir, n) for n in os.listdir(catalogue_dir)
                   if n.lower().endswith('.sh3f'))
    if not paths:
        raise FileNotFoundError(f'no .sh3f catalogue in {catalogue_dir}')
    return paths


def convert_sweethome3d(catalogue_dir: str, out: str, num_points: int = 8192,
                        num_folds: int = 5, seed: int = 0, min_class_size: int = 15,
                        test_fraction: float = 0.2,
                        rules: Sequence[ClassRule] = CLASS_RULES,
                        progress: bool = True) -> SweetHome3DSummary:
    """Convert every model of the ``.sh3f`` catalogues of ``catalogue_dir`` into ``out``.

    Args:
        catalogue_dir: folder of ``*.sh3f`` files (read in name order).
        out: output root (the layout of this module's docstring).
        num_points: points per cloud.
        num_folds: k of the stratified folds over the labelled models.
        seed: seeds the point sampling (per model) and the split / fold orders.
        min_class_size: a rule class with fewer converted models labels none of them.
        test_fraction: per class, the fraction of labelled models in test.txt.
        rules: the class rule (:data:`CLASS_RULES`).
        progress: show a tqdm bar over the models.

    A re-run on the same ``out`` reuses every model whose source (zip entry CRCs, size,
    rotation) and settings (``num_points``, ``seed``) are unchanged, renaming its files if its
    class (hence synset) changed; files of models that no longer convert are removed. Failed
    models are retried.
    """
    if num_points < 1:
        raise ValueError(f'num_points must be >= 1, got {num_points}')
    if min_class_size < 1:
        raise ValueError(f'min_class_size must be >= 1, got {min_class_size}')
    start = time.perf_counter()
    paths = find_catalogues(catalogue_dir)
    catalogues = [read_catalogue(p) for p in paths]
    for sub in (SPLIT_DIR, 'shapenet_pc', 'shapenet_img'):
        os.makedirs(osp.join(out, sub), exist_ok=True)
    previous = _load_previous(out)
    summary = SweetHome3DSummary(out=out)
    records: List[dict] = []
    used_ids: set = set()
    total = sum(len(c.entries) for c in catalogues)
    from tqdm import tqdm
    bar = tqdm(total=total, unit='model', desc='SweetHome3D', disable=not progress)
    for cat in catalogues:
        counts = dict(models=len(cat.entries), converted=0, failed=0)
        summary.catalogues[cat.stem] = counts
        with zipfile.ZipFile(cat.path) as zf:
            for entry in cat.entries:
                bar.set_postfix_str(f'{cat.stem} {entry.name[:20]}', refresh=False)
                model_id = _safe(entry.id)
                if model_id in used_ids:
                    model_id = f'{model_id}_{_safe(cat.stem)}_{entry.index}'
                used_ids.add(model_id)
                try:
                    rec = _convert_or_reuse(zf, entry, model_id, previous, out, num_points, seed)
                except ConversionError as err:
                    summary.failures.append(dict(
                        catalogue=cat.stem, index=entry.index, id=entry.id, name=entry.name,
                        category=entry.category, model=entry.model, kind=err.kind,
                        reason=str(err)))
                    counts['failed'] += 1
                else:
                    if rec.pop('_reused'):
                        summary.reused += 1
                    else:
                        summary.converted += 1
                        if summary.converted % CHECKPOINT_EVERY == 0:
                            _write_json(osp.join(out, PARTIAL_FILE), dict(models=records + [rec]))
                    records.append(rec)
                    counts['converted'] += 1
                bar.update(1)
    bar.close()
    _assign_classes(records, rules, min_class_size, test_fraction, num_folds, seed, summary)
    _write_outputs(out, records, previous, rules, summary, catalogues, dict(
        num_points=num_points, folds=num_folds, seed=seed, min_class_size=min_class_size,
        test_fraction=test_fraction))
    if osp.isfile(osp.join(out, PARTIAL_FILE)):
        os.remove(osp.join(out, PARTIAL_FILE))
    summary.seconds = time.perf_counter() - start
    with open(osp.join(out, 'sweethome3d_summary.txt'), 'w') as f:
        f.write(str(summary) + '\n')
    return summary


def _stored_files(rec: Mapping[str, str]) -> Tuple[str, str]:
    return (osp.join('shapenet_pc', f'{rec["synset"]}-{rec["model_id"]}.npy'),
            osp.join('shapenet_img', f'{rec["synset"]}-{rec["model_id"]}.png'))


def _convert_or_reuse(zf: zipfile.ZipFile, entry: CatalogueEntry, model_id: str,
                      previous: Mapping[str, dict], out: str, num_points: int,
                      seed: int) -> dict:
    """The record of one entry (written under the unlabelled synset until classes are set)."""
    if entry.problems:
        raise ConversionError('bad catalogue entry', '; '.join(entry.problems))
    key = _entry_key(entry, zf, num_points, seed)
    rec = dict(model_id=model_id, synset=UNLABELLED_SYNSET, catalogue=entry.catalogue,
               index=entry.index, id=entry.id, name=entry.name, category=entry.category,
               tags=entry.tags, creator=entry.creator, model=entry.model, icon=entry.icon,
               width_m=round(entry.width / 100, 6), depth_m=round(entry.depth / 100, 6),
               height_m=round(entry.height / 100, 6),
               model_rotation=None if entry.model_rotation is None else
               entry.model_rotation.ravel().tolist(), key=key)
    old = previous.get(model_id)
    if old is not None and old.get('key') == key:
        old_pc, old_img = (osp.join(out, p) for p in _stored_files(old))
        if osp.isfile(old_pc) and osp.isfile(old_img):
            for k in ('centre_m', 'radius_m', 'area_m2', 'num_vertices', 'num_faces',
                      'flat_axes'):
                rec[k] = old[k]
            new_pc, new_img = (osp.join(out, p) for p in _stored_files(rec))
            os.replace(old_pc, new_pc)
            os.replace(old_img, new_img)
            rec['_reused'] = True
            return rec
    if old is not None:  # its source or settings changed: its old files go
        for rel in _stored_files(old):
            if osp.isfile(osp.join(out, rel)):
                os.remove(osp.join(out, rel))
    cloud, icon, measured = convert_entry(zf, entry, num_points, _model_seed(seed, model_id))
    rec.update(measured.__dict__)
    pc_path, img_path = (osp.join(out, p) for p in _stored_files(rec))
    np.save(pc_path, cloud)
    icon.save(img_path)
    rec['_reused'] = False
    return rec


def _synset_of(rule_index: int) -> str:
    return f'93{rule_index + 1:06d}'


def _assign_classes(records: List[dict], rules: Sequence[ClassRule], min_class_size: int,
                    test_fraction: float, num_folds: int, seed: int,
                    summary: SweetHome3DSummary) -> None:
    """Set class, synset, split and fold of every record (in place) and count them."""
    index_of = {r.name: i for i, r in enumerate(rules)}
    for rec in records:
        rec['rule_class'] = classify(rec['name'], rec['category'], rules)
    counts: Dict[str, int] = {}
    for rec in records:
        if rec['rule_class'] is not None:
            counts[rec['rule_class']] = counts.get(rec['rule_class'], 0) + 1
    kept = {c for c, n in counts.items() if n >= min_class_size}
    labels = {}
    for rec in records:
        cls = rec['rule_class'] if rec['rule_class'] in kept else None
        rec['class'] = cls
        rec['synset'] = _synset_of(index_of[cls]) if cls is not None else UNLABELLED_SYNSET
        if cls is not None:
            labels[rec['model_id']] = cls
    split = stratified_split(labels, test_fraction, seed)
    folds = stratified_folds(labels, num_folds, seed)
    for rec in records:
        rec['split'] = split.get(rec['model_id'], UNLABELLED_NAME)
        rec['fold'] = folds.get(rec['model_id'])
    summary.classes = {r.name: counts[r.name] for r in rules if r.name in kept}
    summary.too_small = {r.name: counts[r.name] for r in rules
                         if r.name in counts and r.name not in kept}
    summary.unlabelled = len(records) - len(labels)
    summary.splits = {s: sum(1 for v in split.values() if v == s) for s in ('train', 'test')}
    summary.folds = [sum(1 for v in folds.values() if v == i) for i in range(num_folds)]


def _write_outputs(out: str, records: List[dict], previous: Mapping[str, dict],
                   rules: Sequence[ClassRule], summary: SweetHome3DSummary,
                   catalogues: Sequence[SweetHome3DCatalogue], settings: dict) -> None:
    # move every cloud / icon to its class's synset (they were written as unlabelled)
    for rec in records:
        for sub, ext in (('shapenet_pc', '.npy'), ('shapenet_img', '.png')):
            src = osp.join(out, sub, f'{UNLABELLED_SYNSET}-{rec["model_id"]}{ext}')
            dst = osp.join(out, sub, f'{rec["synset"]}-{rec["model_id"]}{ext}')
            if src != dst and osp.isfile(src):
                os.replace(src, dst)
    # files of models of the previous run that did not convert now
    current = {rec['model_id'] for rec in records}
    for model_id, old in previous.items():
        if model_id not in current:
            for rel in _stored_files(old):
                if osp.isfile(osp.join(out, rel)):
                    os.remove(osp.join(out, rel))
    records.sort(key=lambda r: (r['synset'], r['model_id']))
    file_of = {r['model_id']: f'{r["synset"]}-{r["model_id"]}.npy' for r in records}
    by_split: Dict[str, List[str]] = {'train': [], 'test': [], UNLABELLED_NAME: []}
    for rec in records:
        by_split[rec['split']].append(file_of[rec['model_id']])
    split_dir = osp.join(out, SPLIT_DIR)
    _write_lines(osp.join(split_dir, 'train.txt'), by_split['train'])
    _write_lines(osp.join(split_dir, 'test.txt'), by_split['test'])
    _write_lines(osp.join(split_dir, 'unlabelled.txt'), by_split[UNLABELLED_NAME])
    _write_lines(osp.join(split_dir, 'pretrain.txt'),
                 sorted(by_split['train'] + by_split[UNLABELLED_NAME]))
    _write_lines(osp.join(split_dir, 'labelled.txt'),
                 sorted(by_split['train'] + by_split['test']))
    for name in os.listdir(split_dir):  # folds of a previous run with another k
        if re.fullmatch(r'fold_\d+\.txt', name):
            os.remove(osp.join(split_dir, name))
    for i in range(settings['folds']):
        _write_lines(osp.join(split_dir, f'fold_{i}.txt'),
                     [file_of[r['model_id']] for r in records if r['fold'] == i])
    index_of = {r.name: i for i, r in enumerate(rules)}
    names = [(_synset_of(index_of[c]), c) for c in summary.classes]
    names.append((UNLABELLED_SYNSET, UNLABELLED_NAME))
    _write_json(osp.join(split_dir, 'taxonomy.json'),
                [dict(synset=s, name=n) for s, n in names])
    _write_json(osp.join(out, 'shapenet55.json'),
                [dict(catalogue=int(s), describe=n) for s, n in names])
    for rec in records:
        rec['file'] = file_of[rec['model_id']]
    _write_json(osp.join(out, FAILURES_FILE), summary.failures)
    _write_json(osp.join(out, TEXTS_FILE),
                {file_of[r['model_id']][:-len('.npy')]: r['name'] for r in records})
    _write_json(osp.join(out, META_FILE), dict(
        converter_version=CONVERTER_VERSION,
        settings=settings,
        axes='x = width, y = height (up), z = depth; clouds normalised to the unit sphere: '
        'metres = cloud * radius_m + centre_m',
        class_rule=[dict(name=r.name, pattern=r.pattern, exclude=r.exclude,
                         categories=list(r.categories) if r.categories else None)
                    for r in rules],
        classes=[dict(synset=s, name=n, models=summary.classes.get(n, summary.unlabelled))
                 for s, n in names],
        too_small=summary.too_small,
        catalogues={c.stem: dict(file=osp.basename(c.path), **summary.catalogues[c.stem],
                                 name=c.properties.get('name', ''),
                                 license=c.properties.get('license', ''),
                                 provider=c.properties.get('provider', ''))
                    for c in catalogues},
        models=records,
        failures=summary.failures))
