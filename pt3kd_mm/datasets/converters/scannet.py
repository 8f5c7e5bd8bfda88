"""ScanNet v2 preparation in one call: the raw download -> mmdet3d's layout and info files.

Input (the ScanNet download plus the benchmark split lists)::

    RAW/scans/<scene>/<scene>_vh_clean_2.ply                  mesh (x, y, z, red, green, blue)
    RAW/scans/<scene>/<scene>.aggregation.json                instances: segment groups + label
    RAW/scans/<scene>/<scene>_vh_clean_2.0.010000.segs.json   per-vertex segment ids
    RAW/scans/<scene>/<scene>.txt                             'axisAlignment = 16 numbers'
    RAW/scans_test/<scene>/<scene>_vh_clean_2.ply, <scene>.txt   optional (test split)
    RAW/scannetv2-labels.combined.tsv                         raw_category -> nyu40id
    SPLITS/scannetv2_{train,val,test}.txt                     scene names (default SPLITS = RAW)

Output (mmdet3d 1.4's ``data/scannet`` layout)::

    OUT/scannet_instance_data/<scene>_vert.npy         (N, 6) float32 x y z r g b, unaligned
                             <scene>_sem_label.npy    (N,) uint32 nyu40 ids, 0 unannotated
                             <scene>_ins_label.npy    (N,) uint32 instance ids from 1, 0 none
                             <scene>_aligned_bbox.npy   (K, 7) float64 cx cy cz dx dy dz nyu40id
                             <scene>_unaligned_bbox.npy (K, 7) the same in the raw frame
                             <scene>_axis_align_matrix.npy (4, 4) float64
    OUT/meta_data/scannetv2_{train,val,test}.txt       the scenes that were prepared
    OUT/points/, instance_mask/, semantic_mask/, seg_info/,
    OUT/scannet_infos_{train,val,test}.pkl             written by mmdet3d's own converter code

The first step re-implements what lives only in mmdet3d's repository
(``data/scannet/{batch_load_scannet_data,load_scannet_data,scannet_utils}.py``); the info step
imports ``tools/dataset_converters/{indoor_converter,update_infos_to_v2}.py`` from the installed
mmdet3d wheel (``mmdet3d/.mim/tools``) and runs them as ``tools/create_data.py scannet`` does.
Test scenes carry no ``axisAlignment`` line: their matrix is the identity (as in mmdet3d).
"""
import contextlib
import csv
import importlib
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
import types
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import mmengine
import numpy as np
from mmengine.utils import track_iter_progress, track_parallel_progress

# nyu40 ids of ScanNet's 18 detection classes, in mmdet3d's class order (cabinet ... garbagebin)
SCANNET_DET_NYU40_IDS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
SPLITS = ('train', 'val', 'test')
LABEL_MAP_FILE = 'scannetv2-labels.combined.tsv'
_LABELLED_OUTPUTS = ('sem_label', 'ins_label', 'aligned_bbox', 'unaligned_bbox',
                     'axis_align_matrix')
_OPTIONS_FILE = '.prepare_options.json'


def scene_files(scene_dir: str) -> Dict[str, str]:
    """The raw files of one scan folder ``.../scans/<scene>``: ``mesh``, ``agg``, ``seg``,
    ``meta``."""
    name = osp.basename(osp.normpath(scene_dir))
    return dict(mesh=osp.join(scene_dir, f'{name}_vh_clean_2.ply'),
                agg=osp.join(scene_dir, f'{name}.aggregation.json'),
                seg=osp.join(scene_dir, f'{name}_vh_clean_2.0.010000.segs.json'),
                meta=osp.join(scene_dir, f'{name}.txt'))


def _require_file(path: str, what: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} not found')


def read_label_mapping(tsv_file: str, label_from: str = 'raw_category',
                       label_to: str = 'nyu40id') -> Dict[str, int]:
    """``scannetv2-labels.combined.tsv`` as a ``{raw_category: nyu40id}`` dict."""
    _require_file(tsv_file, 'label map')
    with open(tsv_file, newline='') as f:
        reader = csv.DictReader(f, delimiter='\t')
        missing = {label_from, label_to} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f'{tsv_file} has no column(s) {sorted(missing)} (header: '
                             f'{reader.fieldnames}); expected ScanNet\'s '
                             f'{LABEL_MAP_FILE}')
        mapping = {}
        for row in reader:
            try:
                mapping[row[label_from]] = int(row[label_to])
            except (TypeError, ValueError):
                raise ValueError(f'{tsv_file}: row {row.get("id")} has {label_to} '
                                 f'{row[label_to]!r}, not an integer') from None
    if not mapping:
        raise ValueError(f'{tsv_file} has no rows')
    return mapping


def read_mesh_vertices_rgb(ply_file: str) -> np.ndarray:
    """The vertices of a ScanNet mesh: (N, 6) float32 x, y, z, red, green, blue (0-255)."""
    _require_file(ply_file, 'mesh')
    try:
        from plyfile import PlyData, PlyElementParseError
    except ImportError:
        raise ImportError('reading ScanNet meshes needs plyfile (an mmdet3d requirement): '
                          'pip install plyfile') from None
    try:  # triangle meshes: a fixed face length lets plyfile map the faces instead of parsing
        ply = PlyData.read(ply_file, known_list_len={'face': {'vertex_indices': 3}})
    except PlyElementParseError:
        ply = PlyData.read(ply_file)
    if 'vertex' not in ply:
        raise ValueError(f'{ply_file} has no vertex element')
    data = ply['vertex'].data
    keys = ('x', 'y', 'z', 'red', 'green', 'blue')
    missing = [k for k in keys if k not in data.dtype.names]
    if missing:
        raise ValueError(f'{ply_file}: vertices have no {missing} (has {data.dtype.names})')
    verts = np.empty((len(data), 6), dtype=np.float32)
    for i, key in enumerate(keys):
        verts[:, i] = data[key]
    return verts


def read_axis_align_matrix(meta_file: str) -> np.ndarray:
    """The (4, 4) float64 ``axisAlignment`` of ``<scene>.txt``; the identity when the file has
    no such line (ScanNet's test scans)."""
    _require_file(meta_file, 'scene meta file')
    with open(meta_file) as f:
        for line in f:
            key, _, value = line.partition('=')
            if key.strip() == 'axisAlignment':
                try:
                    numbers = [float(v) for v in value.split()]
                except ValueError:
                    numbers = []
                if len(numbers) != 16:
                    raise ValueError(f'{meta_file}: axisAlignment needs 16 numbers, got '
                                     f'{value.strip()!r}')
                return np.array(numbers, dtype=np.float64).reshape(4, 4)
    return np.eye(4)


def _read_json(path: str, what: str) -> dict:
    _require_file(path, what)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid JSON: {e}') from None


def _aabb(points: np.ndarray) -> np.ndarray:
    lo, hi = points.min(0), points.max(0)
    return np.concatenate([(lo + hi) / 2, hi - lo])


def extract_scene(scene_dir: str, label_map: Dict[str, int],
                  test_mode: bool = False) -> Dict[str, np.ndarray]:
    """Labels and boxes of one raw scan folder, as mmdet3d's ``load_scannet_data.export``
    computes them.

    Returns ``vert`` (N, 6) float32 (raw frame) and ``axis_align_matrix`` (4, 4); unless
    ``test_mode``, also ``sem_label`` / ``ins_label`` (N,) uint32 (nyu40 ids through the tsv's
    raw_category; instance = aggregation ``objectId + 1``; 0 where no segment group covers a
    vertex) and ``aligned_bbox`` / ``unaligned_bbox`` (K, 7) float64
    ``[cx, cy, cz, dx, dy, dz, nyu40id]``: the axis-aligned extent of each instance's vertices
    after / before the axis alignment, for the instances of the 18 detection classes with at
    least one vertex, in ``objectId`` order. A segment of several groups takes the label of
    the last label group and the instance of the last group listing it (mmdet3d's order).
    """
    files = scene_files(scene_dir)
    verts = read_mesh_vertices_rgb(files['mesh'])
    matrix = read_axis_align_matrix(files['meta'])
    out = dict(vert=verts, axis_align_matrix=matrix)
    if test_mode:
        return out
    seg_indices = np.asarray(_read_json(files['seg'], 'segmentation')['segIndices'],
                             dtype=np.int64)
    if len(seg_indices) != len(verts):
        raise ValueError(f'{files["seg"]} has {len(seg_indices)} segment indices but '
                         f'{files["mesh"]} has {len(verts)} vertices')
    groups = _read_json(files['agg'], 'aggregation')['segGroups']
    seg_ids, vert_seg = np.unique(seg_indices, return_inverse=True)

    def vertex_mask(segments: Sequence[int]) -> np.ndarray:
        segments = np.asarray(segments, dtype=np.int64)
        pos = np.clip(np.searchsorted(seg_ids, segments), 0, len(seg_ids) - 1)
        unknown = segments[seg_ids[pos] != segments]
        if len(unknown):
            raise ValueError(f'{files["agg"]} refers to segment {unknown[0]} that '
                             f'{files["seg"]} does not have')
        chosen = np.zeros(len(seg_ids), dtype=bool)
        chosen[pos] = True
        return chosen[vert_seg]

    label_segments: Dict[str, List[int]] = {}
    for group in groups:
        label_segments.setdefault(group['label'], []).extend(group['segments'])
    sem = np.zeros(len(verts), dtype=np.uint32)
    for label, segments in label_segments.items():
        if label not in label_map:
            raise ValueError(f'{files["agg"]}: category {label!r} is not a raw_category of '
                             f'the label map')
        sem[vertex_mask(segments)] = label_map[label]
    ins = np.zeros(len(verts), dtype=np.uint32)
    object_label = {}
    for group in groups:
        object_id = int(group['objectId']) + 1
        ins[vertex_mask(group['segments'])] = object_id
        if group['segments'] and object_id not in object_label:
            first_seg = np.searchsorted(seg_ids, group['segments'][0])
            object_label[object_id] = int(sem[np.argmax(vert_seg == first_seg)])
    aligned_xyz = verts[:, :3].astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    aligned, unaligned = [], []
    for object_id in sorted(object_label):
        label = object_label[object_id]
        inside = ins == object_id
        if label not in SCANNET_DET_NYU40_IDS or not inside.any():
            continue
        aligned.append(np.append(_aabb(aligned_xyz[inside]), label))
        unaligned.append(np.append(_aabb(verts[inside, :3]), label))
    out.update(sem_label=sem, ins_label=ins,
               aligned_bbox=np.array(aligned, dtype=np.float64).reshape(-1, 7),
               unaligned_bbox=np.array(unaligned, dtype=np.float64).reshape(-1, 7))
    return out


def _scene_outputs(prefix: str, test_mode: bool) -> List[str]:
    names = () if test_mode else _LABELLED_OUTPUTS
    return [f'{prefix}_{n}.npy' for n in names] + [f'{prefix}_vert.npy']


def _save_atomic(path: str, array: np.ndarray) -> None:
    tmp = f'{path}.part'
    with open(tmp, 'wb') as f:
        np.save(f, array)
    os.replace(tmp, path)


def export_scene(scene_dir: str, out_prefix: str, label_map: Dict[str, int],
                 test_mode: bool = False, max_num_point: Optional[int] = None) -> int:
    """Extract one scan and write ``<out_prefix>_{vert,sem_label,...}.npy`` (``_vert`` last,
    each file atomically). With ``max_num_point``, scenes with more vertices keep a random
    subset (without replacement, seeded by the scene name) of the vertices and their labels;
    the boxes come from all vertices (mmdet3d's ``--max_num_point``). Returns the number of
    points written."""
    data = extract_scene(scene_dir, label_map, test_mode)
    num = len(data['vert'])
    if max_num_point is not None and num > max_num_point:
        name = osp.basename(osp.normpath(scene_dir))
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        keep = rng.choice(num, max_num_point, replace=False)
        for key in ('vert', 'sem_label', 'ins_label'):
            if key in data:
                data[key] = data[key][keep]
    for path in _scene_outputs(out_prefix, test_mode):
        key = path[len(out_prefix) + 1:-4]
        _save_atomic(path, data[key])
    return len(data['vert'])


def _export_task(task: Tuple[str, str, str, bool, Dict[str, int], Optional[int]]
                 ) -> Tuple[str, str, str]:
    """One scene for the progress loop: (scene, 'done' / 'already done' / 'failed', message).
    Errors are caught so that one broken scene does not stop the others."""
    scene, scene_dir, out_prefix, test_mode, label_map, max_num_point = task
    if all(osp.isfile(p) for p in _scene_outputs(out_prefix, test_mode)):
        return scene, 'already done', ''
    try:
        if not osp.isdir(scene_dir):
            raise FileNotFoundError(f'scan folder {scene_dir} not found')
        num = export_scene(scene_dir, out_prefix, label_map, test_mode, max_num_point)
    except Exception as e:  # noqa: BLE001  (reported by name in the summary)
        return scene, 'failed', f'{type(e).__name__}: {e}'
    return scene, 'done', f'{num} points'


@dataclass
class ScanNetPrepSummary:
    """What :func:`prepare_scannet` did: scenes extracted now, found finished, failed (with
    the reason), the prepared scenes of each split and the info files written."""
    extracted: List[str] = field(default_factory=list)
    already_done: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)
    splits: Dict[str, List[str]] = field(default_factory=dict)
    info_files: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        sizes = ', '.join(f'{s} {len(v)}' for s, v in self.splits.items())
        lines = [f'ScanNet preparation: {len(self.extracted)} scenes extracted, '
                 f'{len(self.already_done)} already done, {len(self.failed)} failed; '
                 f'prepared scenes per split: {sizes}']
        lines += [f'  note: {n}' for n in self.notes]
        if self.failed:
            lines.append('  failed scenes (skipped; fix them and run again):')
            lines += [f'    {scene}: {msg}' for scene, msg in self.failed.items()]
        lines += [f'  {split} infos: {path}' for split, path in self.info_files.items()]
        return '\n'.join(lines)


def _read_split(path: str) -> List[str]:
    _require_file(path, 'split file')
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def _run_tasks(tasks: list, workers: int) -> list:
    if not tasks:
        return []
    if workers > 1 and len(tasks) > 1:
        return track_parallel_progress(_export_task, tasks, nproc=min(workers, len(tasks)))
    return [_export_task(t) for t in track_iter_progress(tasks)]


@contextlib.contextmanager
def _mim_tools_namespace(tools_dir: str):
    """Make ``tools.dataset_converters.*`` resolve to mmdet3d's shipped tools while importing
    them (they import each other by that absolute name), then restore ``sys.modules``; the
    imported modules keep working through their own globals."""
    def owned(name: str) -> bool:
        return name == 'tools' or name.startswith('tools.')

    saved = {k: v for k, v in sys.modules.items() if owned(k)}
    for k in saved:
        del sys.modules[k]
    try:
        for name, path in (('tools', tools_dir),
                           ('tools.dataset_converters', osp.join(tools_dir,
                                                                 'dataset_converters'))):
            pkg = types.ModuleType(name)
            pkg.__path__ = [path]
            sys.modules[name] = pkg
        yield
    finally:
        for k in [k for k in sys.modules if owned(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


_MMDET3D_TOOLS: Dict[str, types.ModuleType] = {}


def mmdet3d_converter_modules() -> Tuple[types.ModuleType, types.ModuleType]:
    """mmdet3d's ``indoor_converter`` and ``update_infos_to_v2`` modules, imported from the
    installed wheel's ``mmdet3d/.mim/tools/dataset_converters`` (not from a source checkout)."""
    if not _MMDET3D_TOOLS:
        import mmdet3d
        tools_dir = osp.join(osp.dirname(mmdet3d.__file__), '.mim', 'tools')
        for name in ('indoor_converter', 'scannet_data_utils', 'update_infos_to_v2'):
            _require_file(osp.join(tools_dir, 'dataset_converters', f'{name}.py'),
                          f'mmdet3d {mmdet3d.__version__} converter (the mmdet3d wheel ships '
                          f'tools/ under mmdet3d/.mim; reinstall mmdet3d from its wheel):')
        with _mim_tools_namespace(tools_dir):
            for name in ('indoor_converter', 'update_infos_to_v2'):
                _MMDET3D_TOOLS[name] = importlib.import_module(
                    f'tools.dataset_converters.{name}')
    return _MMDET3D_TOOLS['indoor_converter'], _MMDET3D_TOOLS['update_infos_to_v2']


def _write_infos(out_dir: str, workers: int) -> Dict[str, str]:
    """mmdet3d 1.4's ``tools/create_data.py scannet`` info step on ``out_dir``: v1 infos and
    seg_info by ``create_indoor_info_file``, then ``update_pkl_infos`` to the v2 format."""
    indoor, update = mmdet3d_converter_modules()
    indoor.create_indoor_info_file(out_dir, 'scannet', out_dir, workers=workers)
    # update_scannet_infos sleeps 5 s per file when it writes over its input; write the v2
    # files beside it (a folder whose name is not a prefix of the input paths), then move
    tmp = tempfile.mkdtemp(prefix='.infos_v2_', dir=out_dir)
    paths = {split: osp.join(out_dir, f'scannet_infos_{split}.pkl') for split in SPLITS}
    try:
        empty = []
        for split, path in paths.items():
            if not mmengine.load(path):  # update_scannet_infos fails on an empty list
                empty.append(split)
                continue
            update.update_pkl_infos('scannet', out_dir=tmp, pkl_path=path)
            os.replace(osp.join(tmp, osp.basename(path)), path)
            metainfo = mmengine.load(path)['metainfo']
        for split in empty:  # the v2 format with no samples, metainfo as mmdet3d wrote it
            mmengine.dump(dict(metainfo=metainfo, data_list=[]), paths[split], 'pkl')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


def _check_options(instance_dir: str, max_num_point: Optional[int]) -> None:
    path = osp.join(instance_dir, _OPTIONS_FILE)
    options = dict(max_num_point=max_num_point)
    if osp.isfile(path):
        with open(path) as f:
            before = json.load(f)
        if before != options:
            raise ValueError(f'{instance_dir} was extracted with {before}, this run asks for '
                             f'{options}: use another output folder or delete that one')
    else:
        with open(path, 'w') as f:
            json.dump(options, f)


def prepare_scannet(raw_root: str, out_dir: str, splits_dir: Optional[str] = None,
                    label_map_file: Optional[str] = None, workers: int = 1,
                    max_num_point: Optional[int] = None) -> ScanNetPrepSummary:
    """Prepare ScanNet v2 from the raw download into mmdet3d's layout under ``out_dir``.

    Args:
        raw_root: folder with ``scans/`` (train + val scans), optionally ``scans_test/``, and
            ``scannetv2-labels.combined.tsv``.
        out_dir: where mmdet3d's layout is written (may be ``raw_root``).
        splits_dir: folder with ``scannetv2_{train,val,test}.txt`` (ScanNet's
            ``Tasks/Benchmark`` or mmdet3d's ``data/scannet/meta_data``); default ``raw_root``.
            Not ``out_dir/meta_data``: that is where the lists of prepared scenes go.
        label_map_file: default ``raw_root/scannetv2-labels.combined.tsv``.
        workers: processes for the extraction and threads for mmdet3d's info step.
        max_num_point: keep at most this many random points per scene (mmdet3d's
            ``--max_num_point 50000`` for detection-only use); default all vertices.

    Scenes whose outputs exist are not extracted again; a scene that fails is reported by
    name in the returned summary, left out of the split lists and the info files, and the
    others go on. Missing global inputs (``scans/``, the tsv, a split file) raise
    ``FileNotFoundError`` naming the path. Test scenes are read from ``scans_test/``; without
    that folder the test split is written empty (as mmdet3d's batch_load does; an empty split's
    info file holds no samples and the metainfo of the others, since mmdet3d's
    ``update_scannet_infos`` fails on an empty list).
    """
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    if max_num_point is not None and max_num_point < 1:
        raise ValueError(f'max_num_point must be >= 1 or None, got {max_num_point}')
    splits_dir = raw_root if splits_dir is None else splits_dir
    label_map_file = label_map_file or osp.join(raw_root, LABEL_MAP_FILE)
    scans = osp.join(raw_root, 'scans')
    if not osp.isdir(scans):
        raise FileNotFoundError(f'scans folder {scans} not found (expected RAW/scans/<scene>/)')
    meta_dir = osp.join(out_dir, 'meta_data')
    if osp.isdir(splits_dir) and osp.isdir(meta_dir) and osp.samefile(splits_dir, meta_dir):
        raise ValueError(f'the split lists must not be read from {meta_dir}: the lists of the '
                         f'prepared scenes are written there; keep the input lists elsewhere '
                         f'(e.g. the raw folder) and pass that folder as splits_dir')
    requested = {s: _read_split(osp.join(splits_dir, f'scannetv2_{s}.txt')) for s in SPLITS}
    label_map = read_label_mapping(label_map_file)

    summary = ScanNetPrepSummary()
    instance_dir = osp.join(out_dir, 'scannet_instance_data')
    os.makedirs(instance_dir, exist_ok=True)
    os.makedirs(meta_dir, exist_ok=True)
    _check_options(instance_dir, max_num_point)
    scans_test = osp.join(raw_root, 'scans_test')
    if requested['test'] and not osp.isdir(scans_test):
        summary.notes.append(f'{scans_test} not found: the test split is left empty')
        requested['test'] = []
    tasks, seen = [], set()
    for split, scenes in requested.items():
        test_mode = split == 'test'
        for scene in scenes:
            if scene not in seen:
                seen.add(scene)
                tasks.append((scene, osp.join(scans_test if test_mode else scans, scene),
                              osp.join(instance_dir, scene), test_mode, label_map,
                              max_num_point))
    print(f'[1/2] extracting {len(tasks)} ScanNet scenes from {raw_root} into {instance_dir}')
    for scene, status, message in _run_tasks(tasks, workers):
        if status == 'failed':
            summary.failed[scene] = message
        else:
            (summary.extracted if status == 'done' else summary.already_done).append(scene)
    for split, scenes in requested.items():
        summary.splits[split] = [s for s in scenes if s not in summary.failed]
        with open(osp.join(meta_dir, f'scannetv2_{split}.txt'), 'w') as f:
            f.write(''.join(f'{s}\n' for s in summary.splits[split]))
    if not summary.splits['train'] and not summary.splits['val']:
        raise RuntimeError(f'no train or val scene could be prepared\n{summary}')
    print('[2/2] info files with mmdet3d\'s converter (indoor_converter, update_infos_to_v2)')
    summary.info_files = _write_infos(out_dir, workers)
    print(summary)
    return summary
