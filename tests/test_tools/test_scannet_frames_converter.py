"""The ScanNet frame-pair command lines: the synthetic RGB-D scans
(tools/create_demo_data.py --scannet-frames) and the converter
(tools/dataset_converters/scannet_frames.py) end to end, on .sens files and posed images."""
import os.path as osp
import sys

import mmengine
import numpy as np
import pytest

from pt3kd_mm.datasets.converters.scannet_frames import SensReader
from pt3kd_mm.testing import load_tool, run_tool


@pytest.mark.e2e
def test_demo_and_converter_command_lines(tmp_path, monkeypatch, capsys):
    """The demo tool and the posed-images run in this process (main() with sys.argv), the
    .sens run as a subprocess with two workers."""
    demo = str(tmp_path / 'scannet_frames_demo')
    monkeypatch.setattr(sys, 'argv', ['create_demo_data.py', '--scannet-frames', '--out', demo,
                                      '--frames-per-scene', '6'])
    load_tool('tools/create_demo_data.py').main()
    assert 'wrote 2 synthetic RGB-D scans (12 frames)' in capsys.readouterr().out
    assert osp.isfile(osp.join(demo, 'scans', 'scene0000_00', 'scene0000_00.sens'))
    assert osp.isfile(osp.join(demo, 'posed_images', 'scene0001_00', '00005.png'))

    # cut the val scan inside frame 4: frames 0 and 2 stay readable
    sens = osp.join(demo, 'scans', 'scene0001_00', 'scene0001_00.sens')
    with SensReader(sens) as r:
        cut = int(r._offsets[4]) + 10
    with open(sens, 'r+b') as f:
        f.truncate(cut)

    pairs = str(tmp_path / 'pairs')
    cmd = ['tools/dataset_converters/scannet_frames.py', '--sens-root', osp.join(demo, 'scans'),
           '--split-dir', demo, '--out', pairs, '--frame-skip', '2', '--workers', '2']
    log = run_tool(cmd)
    assert 'ScanNet frames' in log and '100%' in log and '6/6' in log  # the progress bar
    assert 'train 3 pairs from 1 scenes, val 2 pairs from 1 scenes' in log
    assert '5 frames converted, 0 already done, 1 skipped' in log and 'frames/s' in log
    assert 'scene0001_00.sens, frame 4: the file ends inside frame 4' in log
    assert '2 scans have non-identity depth / colour extrinsics' in log  # the demo's 2.5 cm
    train = mmengine.load(osp.join(pairs, 'scannet_frames_infos_train.pkl'))
    assert [i['frame_id'] for i in train['data_list']] == [0, 2, 4]
    first = np.load(osp.join(pairs, train['data_list'][0]['pc_path']))
    assert first.shape[1] == 6 and 4096 <= len(first) <= 20000

    posed = str(tmp_path / 'posed_pairs')
    monkeypatch.setattr(sys, 'argv', [
        'scannet_frames.py', '--posed-images-root', osp.join(demo, 'posed_images'), '--out',
        posed, '--frame-skip', '3', '--points-per-frame', '5000'])
    assert load_tool('tools/dataset_converters/scannet_frames.py').main() == 0
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert '4/4' in captured.err  # the progress bar
    assert 'deterministic scene-level split, 1 of 2 scan groups to val' in log
    assert '4 frames converted' in log
    infos = [i for s in ('train', 'val') for i in mmengine.load(
        osp.join(posed, f'scannet_frames_infos_{s}.pkl'))['data_list']]
    assert sorted((i['scene_id'], i['frame_id']) for i in infos) == [
        ('scene0000_00', 0), ('scene0000_00', 3), ('scene0001_00', 0), ('scene0001_00', 3)]
    assert all(i['num_points'] == 5000 for i in infos)
