"""ScanNet preparation (raw scans -> mmdet3d's layout) and the synthetic demo rooms."""
import json
import os
import os.path as osp
import shutil
import sys

import mmengine
import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, METRICS
from mmdet3d.structures import DepthInstance3DBoxes

from pt3kd_mm.datasets.converters import (extract_scene, prepare_scannet,
                                          read_axis_align_matrix, read_label_mapping,
                                          read_mesh_vertices_rgb)
from pt3kd_mm.datasets.converters.scannet import mmdet3d_converter_modules
from pt3kd_mm.testing import create_scannet_demo
from pt3kd_mm.testing.demo_scannet import write_label_map, write_scannet_ply

CLASSES = ('cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf', 'picture',
           'counter', 'desk', 'curtain', 'refrigerator', 'showercurtrain', 'toilet', 'sink',
           'bathtub', 'garbagebin')
TRAIN_PIPELINE = [  # mmdet3d::_base_/datasets/scannet-3d.py without the random augmentation
    dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=True, load_dim=6,
         use_dim=[0, 1, 2]),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_mask_3d=True,
         with_seg_3d=True),
    dict(type='GlobalAlignment', rotation_axis=2),
    dict(type='PointSegClassMapping'),
    dict(type='PointSample', num_points=3000),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d',
                                       'pts_semantic_mask', 'pts_instance_mask'])]
NUM_POINTS = 6000


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Three demo rooms (2 train, 1 val) and a test scan, raw and prepared in one folder."""
    root = str(tmp_path_factory.mktemp('scannet_demo'))
    known = create_scannet_demo(root, num_scenes=3, points_per_scene=NUM_POINTS, seed=0)
    return root, known


def _furniture(objects):
    return sorted((o for o in objects if o['name'] is not None),
                  key=lambda o: o['instance_id'])


def test_demo_rooms_in_mmdet3d_layout(demo):
    root, known = demo
    assert sorted(known) == ['scene0000_00', 'scene0001_00', 'scene0002_00']
    for split, scenes in dict(train=['scene0000_00', 'scene0001_00'], val=['scene0002_00'],
                              test=['scene0100_00']).items():
        with open(osp.join(root, 'meta_data', f'scannetv2_{split}.txt')) as f:
            assert f.read().split() == scenes
        for scene in scenes:
            pts = np.fromfile(osp.join(root, 'points', f'{scene}.bin'), np.float32)
            assert pts.shape == (NUM_POINTS * 6,)
            for mask in ('instance_mask', 'semantic_mask'):
                path = osp.join(root, mask, f'{scene}.bin')
                assert osp.isfile(path) == (split != 'test')
    for scene, objects in known.items():
        assert 3 <= len(_furniture(objects)) <= 6
        assert {o['name'] for o in _furniture(objects)} <= set(CLASSES)
        # a yaw and a translation: the raw frame is not the aligned one
        matrix = np.load(osp.join(root, 'scannet_instance_data',
                                  f'{scene}_axis_align_matrix.npy'))
        assert abs(matrix[0, 1]) > 0.3 and np.abs(matrix[:2, 3]).max() > 0
        np.testing.assert_allclose(matrix[:3, :3] @ matrix[:3, :3].T, np.eye(3), atol=1e-12)
    assert not osp.exists(osp.join(root, 'scannet_instance_data', 'scene0100_00_sem_label.npy'))
    np.testing.assert_array_equal(
        np.load(osp.join(root, 'scannet_instance_data', 'scene0100_00_vert.npy')).shape,
        (NUM_POINTS, 6))


def test_extracted_labels_and_boxes_match_the_known_objects(demo):
    root, known = demo
    label_map = read_label_mapping(osp.join(root, 'scannetv2-labels.combined.tsv'))
    assert label_map['couch'] == 6 and label_map['lamp'] == 35 and label_map['wall'] == 1
    for scene, objects in known.items():
        prefix = osp.join(root, 'scannet_instance_data', scene)
        vert = np.load(f'{prefix}_vert.npy')
        sem, ins = np.load(f'{prefix}_sem_label.npy'), np.load(f'{prefix}_ins_label.npy')
        aligned, unaligned = np.load(f'{prefix}_aligned_bbox.npy'), np.load(
            f'{prefix}_unaligned_bbox.npy')
        assert vert.dtype == np.float32 and vert.shape == (NUM_POINTS, 6)
        assert sem.dtype == ins.dtype == np.uint32 and aligned.dtype == np.float64
        # every annotated object's vertices carry its instance id and its nyu40 id
        for obj in objects:
            inside = ins == obj['instance_id']
            assert inside.sum() >= 8
            assert (sem[inside] == obj['nyu40id']).all()
        assert set(np.unique(ins)) == {0} | {o['instance_id'] for o in objects}
        np.testing.assert_array_equal(ins == 0, sem == 0)  # the clutter, unannotated
        assert 0 < (ins == 0).sum() < NUM_POINTS // 20
        # boxes: the 18 detection classes only (no floor, walls, lamp), in instance order
        furniture = _furniture(objects)
        assert aligned.shape == unaligned.shape == (len(furniture), 7)
        np.testing.assert_array_equal(aligned[:, 6], [o['nyu40id'] for o in furniture])
        np.testing.assert_allclose(aligned[:, :6], [o['box'] for o in furniture], atol=1e-5)
        # unaligned boxes: the extent in the raw frame of the mesh
        raw = read_mesh_vertices_rgb(osp.join(root, 'scans', scene,
                                              f'{scene}_vh_clean_2.ply'))
        np.testing.assert_array_equal(raw, vert)
        for row, obj in zip(unaligned, furniture):
            pts = raw[ins == obj['instance_id'], :3]
            np.testing.assert_allclose(row[:3], (pts.min(0) + pts.max(0)) / 2, atol=1e-6)
            np.testing.assert_allclose(row[3:6], pts.max(0) - pts.min(0), atol=1e-6)
        assert not np.allclose(unaligned[:, 3:6], aligned[:, 3:6], atol=1e-3)


def test_info_files_load_through_scannet_dataset(demo):
    root, known = demo
    dataset = DATASETS.build(dict(type='ScanNetDataset', data_root=root,
                                  ann_file='scannet_infos_train.pkl', pipeline=TRAIN_PIPELINE,
                                  metainfo=dict(classes=CLASSES), box_type_3d='Depth'))
    assert len(dataset) == 2 and dataset.metainfo['classes'] == CLASSES
    for index, scene in enumerate(['scene0000_00', 'scene0001_00']):
        item = dataset[index]
        sample = item['data_samples']
        boxes = sample.gt_instances_3d.bboxes_3d
        assert isinstance(boxes, DepthInstance3DBoxes)
        furniture = _furniture(known[scene])
        expected = torch.tensor(np.array([o['box'] for o in furniture]), dtype=torch.float32)
        torch.testing.assert_close(boxes.gravity_center, expected[:, :3], atol=1e-4, rtol=0)
        torch.testing.assert_close(boxes.dims, expected[:, 3:], atol=1e-4, rtol=0)
        assert (boxes.yaw == 0).all()
        assert sample.gt_instances_3d.labels_3d.tolist() == [
            CLASSES.index(o['name']) for o in furniture]
        # after GlobalAlignment the sampled points of each object lie in its box
        points = item['inputs']['points']
        assert points.shape == (3000, 4)
        instance = sample.gt_pts_seg.pts_instance_mask
        semantic = sample.gt_pts_seg.pts_semantic_mask
        for obj, box in zip(furniture, expected):
            pts = points[instance == obj['instance_id'], :3]
            assert len(pts) > 0
            assert (pts >= box[:3] - box[3:] / 2 - 1e-4).all()
            assert (pts <= box[:3] + box[3:] / 2 + 1e-4).all()
            # PointSegClassMapping: nyu40 id -> index among the 18 classes (others: 18)
            assert (semantic[instance == obj['instance_id']] == CLASSES.index(obj['name'])
                    ).all()
        assert (semantic[instance == 0] == len(CLASSES)).all()


def test_indoor_metric_on_the_val_infos(demo):
    root, known = demo
    dataset = DATASETS.build(dict(
        type='ScanNetDataset', data_root=root, ann_file='scannet_infos_val.pkl',
        test_mode=True, box_type_3d='Depth', metainfo=dict(classes=CLASSES),
        pipeline=[dict(type='LoadPointsFromFile', coord_type='DEPTH', load_dim=6,
                       use_dim=[0, 1, 2]),
                  dict(type='GlobalAlignment', rotation_axis=2),
                  dict(type='Pack3DDetInputs', keys=['points'])]))
    assert len(dataset) == 1
    ann = dataset[0]['data_samples'].eval_ann_info
    furniture = _furniture(known['scene0002_00'])
    boxes = DepthInstance3DBoxes(
        torch.tensor(np.array([np.append(o['box'], 0.0) for o in furniture])),
        origin=(0.5, 0.5, 0.5))
    labels = torch.tensor([CLASSES.index(o['name']) for o in furniture])

    def evaluate(pred_boxes):
        metric = METRICS.build(dict(type='IndoorMetric'))
        metric.dataset_meta = dataset.metainfo
        metric.process({}, [dict(eval_ann_info=ann, pred_instances_3d=dict(
            bboxes_3d=pred_boxes, labels_3d=labels, scores_3d=torch.ones(len(labels))))])
        return metric.compute_metrics(metric.results)

    exact = evaluate(boxes)
    assert exact['mAP_0.25'] == pytest.approx(1.0) and exact['mAP_0.50'] == pytest.approx(1.0)
    moved = boxes.clone()
    moved.translate(torch.tensor([0.0, 0.0, 3.0]))  # above the ceiling: no overlap
    assert evaluate(moved)['mAP_0.25'] == pytest.approx(0.0)


def test_test_split_has_no_annotations(demo):
    # as mmdet3d writes it: points only (mmdet3d's ScanNetDataset itself cannot read it: it
    # expects mask paths; mmdet3d's configs test on the val infos)
    root, _ = demo
    infos = mmengine.load(osp.join(root, 'scannet_infos_test.pkl'))
    assert infos['metainfo']['dataset'] == 'scannet'
    assert [i['lidar_points']['lidar_path'] for i in infos['data_list']] == ['scene0100_00.bin']
    assert infos['data_list'][0]['instances'] == []
    assert not {'pts_instance_mask_path', 'axis_align_matrix'} & set(infos['data_list'][0])


def _raw_demo(tmp_path, num_scenes=3):
    root = str(tmp_path / 'raw')
    known = create_scannet_demo(root, num_scenes=num_scenes, points_per_scene=3000, seed=1,
                                prepare=False)
    return root, known


def test_broken_scene_is_named_and_skipped_and_rerun_skips_finished(tmp_path, capsys):
    root, _ = _raw_demo(tmp_path, num_scenes=4)
    out = str(tmp_path / 'out')
    broken = osp.join(root, 'scans', 'scene0001_00', 'scene0001_00.aggregation.json')
    os.rename(broken, broken + '.bak')
    summary = prepare_scannet(root, out)
    assert list(summary.failed) == ['scene0001_00']
    assert 'FileNotFoundError' in summary.failed['scene0001_00']
    assert broken in summary.failed['scene0001_00']
    assert summary.extracted == ['scene0000_00', 'scene0002_00', 'scene0003_00',
                                 'scene0100_00']
    assert summary.splits == dict(train=['scene0000_00', 'scene0002_00'],
                                  val=['scene0003_00'], test=['scene0100_00'])
    printed = capsys.readouterr().out
    assert '1 failed' in printed and 'scene0001_00: FileNotFoundError' in printed
    train = DATASETS.build(dict(type='ScanNetDataset', data_root=out, pipeline=[],
                                ann_file='scannet_infos_train.pkl', box_type_3d='Depth'))
    assert [osp.basename(train.get_data_info(i)['lidar_points']['lidar_path'])
            for i in range(len(train))] == ['scene0000_00.bin', 'scene0002_00.bin']

    # fixed: the re-run extracts only that scene and leaves the finished ones untouched
    os.rename(broken + '.bak', broken)
    vert = osp.join(out, 'scannet_instance_data', 'scene0000_00_vert.npy')
    before = os.stat(vert).st_mtime_ns
    summary = prepare_scannet(root, out, workers=2)
    assert summary.extracted == ['scene0001_00'] and not summary.failed
    assert sorted(summary.already_done) == ['scene0000_00', 'scene0002_00', 'scene0003_00',
                                            'scene0100_00']
    assert os.stat(vert).st_mtime_ns == before
    assert summary.splits['train'] == ['scene0000_00', 'scene0001_00', 'scene0002_00']
    assert not [n for n in os.listdir(out) if n.startswith('.infos_v2_')]
    # another subsampling on the same output folder is refused
    with pytest.raises(ValueError, match=r"extracted with \{'max_num_point': None\}"):
        prepare_scannet(root, out, max_num_point=1000)


def test_missing_inputs_are_named(tmp_path):
    root, _ = _raw_demo(tmp_path, num_scenes=2)
    out = str(tmp_path / 'out')
    tsv = osp.join(root, 'scannetv2-labels.combined.tsv')
    os.rename(tsv, tsv + '.bak')
    with pytest.raises(FileNotFoundError, match=f'label map {tsv} not found'):
        prepare_scannet(root, out)
    os.rename(tsv + '.bak', tsv)
    split = osp.join(root, 'scannetv2_val.txt')
    os.rename(split, split + '.bak')
    with pytest.raises(FileNotFoundError, match=f'split file {split} not found'):
        prepare_scannet(root, out)
    splits_dir = str(tmp_path / 'splits')
    os.makedirs(splits_dir)
    for name in ('train', 'val', 'test'):
        shutil.copy(osp.join(root, f'scannetv2_{name}.txt' + ('.bak' if name == 'val' else '')),
                    osp.join(splits_dir, f'scannetv2_{name}.txt'))
    with pytest.raises(FileNotFoundError, match='scans folder .*nowhere/scans not found'):
        prepare_scannet(str(tmp_path / 'nowhere'), out, splits_dir=splits_dir)
    shutil.copytree(splits_dir, osp.join(out, 'meta_data'))
    with pytest.raises(ValueError, match='must not be read from'):
        prepare_scannet(root, out, splits_dir=osp.join(out, 'meta_data'))
    # without scans_test/ the test split is left empty, with a note
    shutil.rmtree(osp.join(root, 'scans_test'))
    summary = prepare_scannet(root, str(tmp_path / 'out2'), splits_dir=splits_dir,
                              max_num_point=1000)
    assert summary.splits['test'] == [] and 'scans_test' in summary.notes[0]
    test_infos = mmengine.load(summary.info_files['test'])
    assert test_infos['data_list'] == [] and test_infos['metainfo']['dataset'] == 'scannet'
    assert np.load(osp.join(tmp_path, 'out2', 'scannet_instance_data',
                            'scene0000_00_vert.npy')).shape == (1000, 6)


def _tiny_scene(tmp_path, agg_groups, seg_indices, axis_line=True):
    """A hand-made scan: 8 vertices on two unit cubes' corners."""
    scene_dir = tmp_path / 'scans' / 'scene0999_00'
    scene_dir.mkdir(parents=True)
    corners = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], np.float64)
    xyz = np.concatenate([corners[:4] * [1, 2, 3], corners[:4] * [1, 1, 1] + [5, 0, 0]])
    write_scannet_ply(str(scene_dir / 'scene0999_00_vh_clean_2.ply'), xyz,
                      np.full((8, 3), 7, np.uint8))
    (scene_dir / 'scene0999_00.txt').write_text(
        # 90 degrees about z, then (+10, +20, +30): (x, y, z) -> (10 - y, 20 + x, 30 + z)
        'axisAlignment = 0 -1 0 10 1 0 0 20 0 0 1 30 0 0 0 1\n' if axis_line else 'x = 1\n')
    (scene_dir / 'scene0999_00_vh_clean_2.0.010000.segs.json').write_text(
        json.dumps(dict(segIndices=seg_indices)))
    (scene_dir / 'scene0999_00.aggregation.json').write_text(json.dumps(dict(
        segGroups=[dict(objectId=i, id=i, label=label, segments=segs)
                   for i, (label, segs) in enumerate(agg_groups)])))
    write_label_map(str(tmp_path / 'labels.tsv'))
    return str(scene_dir), read_label_mapping(str(tmp_path / 'labels.tsv'))


def test_extraction_on_a_hand_example(tmp_path):
    # vertices 0-3: (0,0,0) (0,0,3) (0,2,0) (0,2,3); 4-7: (5,0,0) (5,0,1) (5,1,0) (5,1,1);
    # segment 31 (vertex 5) is in the lamp and the table: the later group wins both labels
    scene_dir, label_map = _tiny_scene(
        tmp_path, [('chair', [10]), ('lamp', [20, 31]), ('table', [30, 31]), ('bed', [])],
        seg_indices=[10, 10, 10, 10, 30, 31, 20, 30])
    data = extract_scene(scene_dir, label_map)
    np.testing.assert_array_equal(data['sem_label'], [5, 5, 5, 5, 7, 7, 35, 7])
    np.testing.assert_array_equal(data['ins_label'], [1, 1, 1, 1, 3, 3, 2, 3])
    # chair: raw x 0, y 0..2, z 0..3; aligned x 10-y in 8..10, y 20+x = 20, z 30..33
    # table: raw vertices 4, 5, 7: x 5, y 0..1, z 0..1; the lamp (nyu40 35) and the
    # point-less bed get no box
    np.testing.assert_allclose(data['unaligned_bbox'], [[0, 1, 1.5, 0, 2, 3, 5],
                                                        [5, 0.5, 0.5, 0, 1, 1, 7]])
    np.testing.assert_allclose(data['aligned_bbox'], [[9, 20, 31.5, 2, 0, 3, 5],
                                                      [9.5, 25, 30.5, 1, 0, 1, 7]])
    np.testing.assert_allclose(data['axis_align_matrix'][:3, 3], [10, 20, 30])
    test_data = extract_scene(scene_dir, label_map, test_mode=True)
    assert sorted(test_data) == ['axis_align_matrix', 'vert']


def test_extraction_errors_name_the_problem(tmp_path):
    scene_dir, label_map = _tiny_scene(tmp_path, [('chair', [10, 99])], [10] * 8)
    with pytest.raises(ValueError, match='refers to segment 99 that .*segs.json does not'):
        extract_scene(scene_dir, label_map)
    with pytest.raises(ValueError, match="category 'chair' is not a raw_category"):
        extract_scene(scene_dir, {'wall': 1})
    seg = osp.join(scene_dir, 'scene0999_00_vh_clean_2.0.010000.segs.json')
    with open(seg, 'w') as f:
        json.dump(dict(segIndices=[10] * 7), f)
    with pytest.raises(ValueError, match='has 7 segment indices but .*_vh_clean_2.ply has 8'):
        extract_scene(scene_dir, label_map)
    meta = osp.join(scene_dir, 'scene0999_00.txt')
    with open(meta, 'w') as f:
        f.write('sceneType = Office\n')
    np.testing.assert_array_equal(read_axis_align_matrix(meta), np.eye(4))
    with open(meta, 'w') as f:
        f.write('axisAlignment = 1 0 0\n')
    with pytest.raises(ValueError, match='axisAlignment needs 16 numbers'):
        read_axis_align_matrix(meta)
    bad_tsv = tmp_path / 'bad.tsv'
    bad_tsv.write_text('id\tname\n1\twall\n')
    with pytest.raises(ValueError, match=r"has no column\(s\) \['nyu40id', 'raw_category'\]"):
        read_label_mapping(str(bad_tsv))


def test_mmdet3d_tools_are_imported_without_leaking_module_names():
    before = {k for k in sys.modules if k == 'tools' or k.startswith('tools.')}
    indoor, update = mmdet3d_converter_modules()
    assert indoor.__file__.endswith(osp.join('mmdet3d', '.mim', 'tools', 'dataset_converters',
                                             'indoor_converter.py'))
    assert callable(update.update_pkl_infos)
    assert {k for k in sys.modules if k == 'tools' or k.startswith('tools.')} == before
