"""ShapeNet-55 in the Point-BERT layout its users already have, with ReCon's additions::

    data_root/                             e.g. data/ShapeNet55-34/
      ShapeNet-55/train.txt, test.txt      one file name per line: <synset>-<model_id>.npy
      shapenet_pc/<synset>-<model_id>.npy  (8192, 3) float points
      shapenet_img/<synset>-<model_id>.png rendered view (ReCon layout; ReCon only)
      shapenet55.json                      class names (ReCon layout): [{"catalogue": 2691156,
                                           "describe": "airplane", ...}, ...]
      ShapeNet-55/taxonomy.json            or class names as [{"synset": "02691156",
                                           "name": "airplane"}, ...]
      <texts_file>                         optional per-cloud texts: {"<synset>-<model_id>":
                                           "text", ...} (e.g. sweethome3d_texts.json)
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS

#: where the class names are looked for (relative to ``data_root``), in this order
NAMES_FILES = ('shapenet55.json', 'ShapeNet-55/taxonomy.json')
_HOW_TO_NAME = (
    "ReCon's text prompts need a class name per synset: put ReCon's shapenet55.json (rows with "
    "'catalogue' = the synset as an integer, 'describe' = the name; see ReCon's DATASET.md) at "
    "<data_root>/shapenet55.json, or write <data_root>/ShapeNet-55/taxonomy.json as "
    '[{"synset": "02691156", "name": "airplane"}, ...]. Pre-training without prompts '
    '(Point-MAE, ACT) may pass names_file=None to name the classes by synset id.')


def _synset(catalogue: Union[int, str]) -> str:
    """ReCon's ``catalogue`` (the synset as an int, e.g. 2691156) -> '02691156' (8 digits, as
    the split files write it; ReCon prepends one '0', the same for every ShapeNet synset)."""
    return str(catalogue).zfill(8)


def read_class_names(path: str) -> List[Tuple[str, str]]:
    """(synset, name) rows of a class-name file, in file order: ReCon's ``shapenet55.json``
    (``catalogue`` / ``describe``) or a ``taxonomy.json`` (``synset`` / ``name``).

    Raises:
        ValueError: naming the file and row when a row has neither pair of keys or a synset
            appears twice.
    """
    with open(path) as f:
        try:
            rows = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'class-name file {path} is not valid JSON: {err}') from None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f'class-name file {path} must hold a non-empty JSON array of rows')
    out, seen = [], set()
    for i, row in enumerate(rows):
        if isinstance(row, dict) and 'synset' in row and 'name' in row:
            synset, name = str(row['synset']), str(row['name'])
        elif isinstance(row, dict) and 'catalogue' in row and 'describe' in row:
            synset, name = _synset(row['catalogue']), str(row['describe'])
        else:
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise ValueError(f'{path}: row {i} ({keys}) has neither "catalogue" + "describe" '
                             f'(ReCon\'s shapenet55.json) nor "synset" + "name" (taxonomy.json)')
        if synset in seen:
            raise ValueError(f'{path}: synset {synset} is named twice (row {i})')
        seen.add(synset)
        out.append((synset, name))
    return out


@DATASETS.register_module()
class ShapeNet55Dataset(BaseDataset):
    """ShapeNet-55 object point clouds for pre-training.

    Args:
        data_root: the folder that holds ``ShapeNet-55/`` and ``shapenet_pc/``.
        ann_file: split file relative to ``data_root``, e.g. 'ShapeNet-55/train.txt', or a
            list of them, read in order (e.g. train + test, as ACT and ReCon pre-train).
        data_prefix: folders of the clouds (``pts``) and rendered views (``img``).
        names_file: class-name file(s) relative to ``data_root``, looked for in order; the
            first that exists names the classes and orders the class ids: ReCon's
            ``shapenet55.json`` (synset ``'0' + str(catalogue)``, name ``describe``; ids = row
            order, ReCon's labels) or ``ShapeNet-55/taxonomy.json`` (``synset`` / ``name``).
            None of them existing, or a synset of the splits without a name, is an error
            naming the synset and the files. ``None``: no names, the synset ids are the class
            names (ids = sorted synsets of all split files next to ``ann_file``, so train and
            test agree); refused when the pipeline builds text prompts from the names.
        texts_file: a JSON file relative to ``data_root`` mapping ``'<synset>-<model_id>'``
            (a split line without ``.npy``) to the text of that cloud (e.g. the catalogue name
            written by the SweetHome3D converter); every data_info then gets ``model_text``
            (a pipeline reads it with ``RandomTextPrompt(name_key='model_text')``). A missing
            file, or a cloud of the splits without a text, is an error naming both.
        Other arguments as mmengine's ``BaseDataset``.

    data_info: pc_path, img_path, synset, model_id, category (class id), category_name
    (+ model_text with ``texts_file``);
    metainfo: classes (names), synsets, names_file (the file read, or None).
    """

    METAINFO = dict(classes=None)

    def __init__(self,
                 data_root: str,
                 ann_file: Union[str, Sequence[str]] = 'ShapeNet-55/train.txt',
                 data_prefix: Optional[dict] = None,
                 names_file: Union[str, Sequence[str], None] = NAMES_FILES,
                 texts_file: Optional[str] = None,
                 **kwargs) -> None:
        if names_file is not None:
            names_file = (names_file, ) if isinstance(names_file, str) else tuple(names_file)
            if not names_file:
                raise ValueError('names_file is an empty list; pass None to name the classes '
                                 'by synset id')
        self.names_file = names_file
        self.texts_file = texts_file
        if isinstance(ann_file, (list, tuple)):
            if not ann_file:
                raise ValueError('ann_file is an empty list of split files')
            ann_file, self.extra_ann_files = ann_file[0], list(ann_file[1:])
        else:
            self.extra_ann_files = []
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix or dict(pts='shapenet_pc', img='shapenet_img'),
            **kwargs)
        if self.names_file is None:
            self._refuse_prompts_from_synsets()

    def _refuse_prompts_from_synsets(self) -> None:
        from .transforms.image_text import RandomTextPrompt
        for t in getattr(self.pipeline, 'transforms', []):
            if isinstance(t, RandomTextPrompt) and t.name_key == 'category_name':
                raise ValueError(
                    'ShapeNet55Dataset(names_file=None) names the classes by synset id, but the '
                    'pipeline builds text prompts from category_name (RandomTextPrompt): they '
                    f'would read "A 3D model of a 02691156.". {_HOW_TO_NAME}')

    @staticmethod
    def _read_split(path: str) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'split file {path} not found. ShapeNet-55 is expected in the Point-BERT '
                f'layout: <data_root>/ShapeNet-55/{{train,test}}.txt and '
                f'<data_root>/shapenet_pc/<synset>-<id>.npy (python tools/create_demo_data.py '
                f'writes a small dataset in this layout).')
        with open(path) as f:
            names = [ln.strip() for ln in f if ln.strip()]
        for ln in names:
            if '-' not in ln or not ln.endswith('.npy'):
                raise ValueError(f'{path}: line {ln!r} is not of the form <synset>-<id>.npy')
        return names

    def _class_names(self, names: List[str]) -> Tuple[List[Tuple[str, str]], Optional[str]]:
        """(synset, name) per class id, and the file they come from (None: synset ids), for
        the split file lines ``names``."""
        if self.names_file is None:
            split_dir = osp.dirname(self.ann_file)
            synsets = {ln.split('-')[0] for ln in names}
            for name in ('train.txt', 'test.txt', osp.basename(self.ann_file)):
                path = osp.join(split_dir, name)
                if osp.isfile(path):
                    synsets.update(ln.split('-')[0] for ln in self._read_split(path))
            return [(s, s) for s in sorted(synsets)], None
        paths = [osp.join(self.data_root, f) for f in self.names_file]
        for path in paths:
            if osp.isfile(path):
                return read_class_names(path), path
        raise FileNotFoundError(f'no class-name file found: looked for {paths}. {_HOW_TO_NAME}')

    def _read_texts(self) -> Tuple[Optional[Dict[str, str]], Optional[str]]:
        """'<synset>-<model_id>' -> text of ``texts_file`` and its path (None, None without)."""
        if self.texts_file is None:
            return None, None
        path = osp.join(self.data_root, self.texts_file)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'texts file {path} not found (texts_file={self.texts_file!r}, relative to '
                f'data_root). It maps "<synset>-<model_id>" to the text of each cloud; '
                f'tools/dataset_converters/sweethome3d.py writes sweethome3d_texts.json.')
        with open(path, encoding='utf-8') as f:
            try:
                texts = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f'texts file {path} is not valid JSON: {err}') from None
        if not isinstance(texts, dict):
            raise ValueError(f'texts file {path} must hold a JSON object '
                             f'{{"<synset>-<model_id>": "text", ...}}, got '
                             f'{type(texts).__name__}')
        return texts, path

    def load_data_list(self) -> List[dict]:
        names = []
        for path in [self.ann_file] + [osp.join(self.data_root, f) for f in self.extra_ann_files]:
            lines = self._read_split(path)
            if not lines:
                raise ValueError(f'split file {path} lists no clouds (it is empty): write one '
                                 f'<synset>-<id>.npy per line, or leave it out of ann_file')
            names += lines
        classes, names_path = self._class_names(names)
        texts, texts_path = self._read_texts()
        label_of: Dict[str, int] = {s: i for i, (s, _) in enumerate(classes)}
        self._metainfo['classes'] = tuple(n for _, n in classes)
        self._metainfo['synsets'] = tuple(s for s, _ in classes)
        self._metainfo['names_file'] = names_path
        data_list = []
        for name in names:
            synset, model_id = name[:-len('.npy')].split('-', 1)
            if synset not in label_of:
                raise ValueError(f'{self.ann_file}: synset {synset} of {name} has no class name '
                                 f'in {names_path} (files looked for, in order: '
                                 f'{list(self.names_file)}). {_HOW_TO_NAME}')
            label = label_of[synset]
            info = dict(
                pc_path=osp.join(self.data_prefix['pts'], name),
                img_path=osp.join(self.data_prefix.get('img', ''), name[:-4] + '.png'),
                synset=synset,
                model_id=model_id,
                category=label,
                category_name=classes[label][1])
            if texts is not None:
                key = name[:-len('.npy')]
                if key not in texts:
                    raise ValueError(f'cloud {name} (key {key!r}) has no text in the texts file '
                                   f'{texts_path} ({len(texts)} texts)')
                info['model_text'] = str(texts[key])
            data_list.append(info)
        return data_list
