"""The ScanNet command lines: the demo rooms (tools/create_demo_data.py --scannet) and the
one-command preparation (tools/dataset_converters/prepare_scannet.py)."""
import os
import os.path as osp
import subprocess
import sys

import mmengine
import pytest

from pt3kd_mm.testing import REPO, run_tool


@pytest.mark.e2e
def test_demo_rooms_and_prepare_command(tmp_path):
    demo = str(tmp_path / 'scannet_demo')
    out = run_tool(['tools/create_demo_data.py', '--scannet', '--out', demo,
                    '--num-scenes', '2', '--num-points', '3000'])
    assert 'wrote 2 ScanNet demo rooms' in out
    infos = mmengine.load(osp.join(demo, 'scannet_infos_train.pkl'))
    assert len(infos['data_list']) == 1 and infos['data_list'][0]['instances']

    # the same raw scans prepared elsewhere by the tool, one scene broken
    os.remove(osp.join(demo, 'scans', 'scene0001_00', 'scene0001_00_vh_clean_2.ply'))
    prepared = str(tmp_path / 'prepared')
    proc = subprocess.run(
        [sys.executable, 'tools/dataset_converters/prepare_scannet.py', '--raw-root', demo,
         '--out-dir', prepared, '--workers', '2'],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'scene0001_00: FileNotFoundError: mesh' in proc.stdout
    assert '1 failed' in proc.stdout
    assert len(mmengine.load(osp.join(prepared, 'scannet_infos_train.pkl'))['data_list']) == 1
    assert mmengine.load(osp.join(prepared, 'scannet_infos_val.pkl'))['data_list'] == []
