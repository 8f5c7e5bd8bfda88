"""pt3kd_mm.visualization on generated inputs: each renderer writes a PNG of exactly the asked
size and a self-contained plotly page; the reconstruction's absolute coordinates, the group
labels and the box corners are pinned against hand computations and mmdet3d."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from mmdet3d.datasets import ScanNetSegDataset
from mmdet3d.structures import DepthInstance3DBoxes
from pt3kd_mm.visualization import (BOX_EDGES, assemble_reconstruction, box_corners,
                                    group_point_labels, index_colors, label_colors,
                                    render_boxes, render_groups, render_reconstruction,
                                    render_segmentation, scannet_seg_palette)


def check_outputs(stem, size):
    """A non-empty PNG of exactly ``size`` pixels and an HTML page with plotly.js inlined and
    no external script; returns the page."""
    with Image.open(f'{stem}.png') as img:
        assert img.size == tuple(size)
        pixels = np.asarray(img.convert('L'))
    assert pixels.min() < 200  # something was drawn on the white page
    html = open(f'{stem}.html', encoding='utf-8').read()
    assert 'Plotly.newPlot' in html and len(html) > 1_000_000  # the bundle, inlined
    assert not re.search(r'<script[^>]*\bsrc=', html)  # no CDN, nothing fetched
    assert 'cdn.plot.ly/plotly' not in html.split('</script>')[-1]
    return html


@pytest.fixture(scope='module')
def cloud():
    rng = np.random.default_rng(0)
    return rng.normal(size=(256, 3)).astype(np.float32)


def test_render_groups(cloud, tmp_path):
    centers = cloud[:4]
    group_idx = np.arange(32).reshape(4, 8)
    render_groups(cloud, centers, group_idx, 'groups', out=str(tmp_path / 'g'),
                  size=(321, 203))
    html = check_outputs(tmp_path / 'g', (321, 203))
    assert '"group 3"' in html and '"in no group"' in html


def test_group_labels_pick_the_nearest_centre():
    points = np.array([[0, 0, 0], [1, 0, 0], [3, 0, 0], [9, 9, 9]], np.float32)
    centers = np.array([[0, 0, 0], [3, 0, 0]], np.float32)
    # point 1 is in both groups, nearer to centre 0; point 3 is in none
    labels = group_point_labels(4, centers, np.array([[0, 1], [2, 1]]), points)
    np.testing.assert_array_equal(labels, [0, 0, 1, -1])


def test_assemble_reconstruction_adds_the_centres_back():
    neighborhood = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3) / 10
    centers = np.array([[10, 0, 0], [0, 20, 0], [0, 0, 30], [5, 5, 5]], np.float32)
    mask = np.array([False, True, False, True])
    predicted = np.full((2, 3, 3), 0.5, np.float32)  # K' may differ from K
    rec = assemble_reconstruction(neighborhood, centers, mask, predicted)
    np.testing.assert_allclose(rec.visible, neighborhood[[0, 2]] + centers[[0, 2], None])
    np.testing.assert_allclose(rec.masked, neighborhood[[1, 3]] + centers[[1, 3], None])
    np.testing.assert_allclose(rec.reconstructed[0], np.full((3, 3), 0.5) + [0, 20, 0])
    np.testing.assert_allclose(rec.reconstructed[1], np.full((3, 3), 5.5))
    assert rec.original.shape == (8, 3)
    assert assemble_reconstruction(neighborhood, centers, mask).reconstructed is None
    with pytest.raises(ValueError, match='3 predicted groups for 2 masked'):
        assemble_reconstruction(neighborhood, centers, mask, np.zeros((3, 2, 3)))


@pytest.mark.parametrize('with_prediction', [True, False])
def test_render_reconstruction(cloud, tmp_path, with_prediction):
    groups = cloud[:64].reshape(8, 8, 3)
    rec = groups[5:] + 0.1 if with_prediction else None
    fig = render_reconstruction(cloud[:64], groups[:5], groups[5:], rec, 'rec',
                                out=str(tmp_path / 'r'), size=(600, 200))
    check_outputs(tmp_path / 'r', (600, 200))
    assert len(fig.panels) == (3 if with_prediction else 2)
    if with_prediction:  # the last panel: visible + the predicted groups, as given
        layers = fig.panels[-1].layers
        np.testing.assert_allclose(layers[0].xyz, groups[:5].reshape(-1, 3))
        np.testing.assert_allclose(layers[1].xyz, rec.reshape(-1, 3))


def test_box_corners_are_mmdet3ds():
    boxes = np.array([[1, 2, 0.5, 2, 1, 0.8, 0.3], [0, 0, 0, 1, 1, 1, -1.2]], np.float32)
    expected = DepthInstance3DBoxes(torch.from_numpy(boxes)).corners.numpy()
    np.testing.assert_allclose(box_corners(boxes), expected, atol=1e-6)
    # z is the bottom: an upright box spans z .. z + dz; no yaw = zero yaw
    corners = box_corners(boxes[:1, :6])
    assert corners[..., 2].min() == pytest.approx(0.5)
    assert corners[..., 2].max() == pytest.approx(1.3)
    # the 12 edges are the box's edges: each joins corners differing in one coordinate
    axis_aligned = box_corners(np.array([[0, 0, 0, 2, 4, 6, 0]], np.float32))[0]
    for a, b in BOX_EDGES:
        assert np.count_nonzero(np.abs(axis_aligned[a] - axis_aligned[b]) > 1e-6) == 1
    assert box_corners(np.zeros((0, 7))).shape == (0, 8, 3)


def test_render_boxes(cloud, tmp_path):
    gt = np.array([[0, 0, -1, 1, 2, 1, 0.3], [1, 1, 0, 1, 1, 1, 0]], np.float32)
    fig = render_boxes(cloud, gt, [0, 2], gt[:1] + 0.1, [0], [0.87], ['chair', 'sofa', 'bed'],
                       'boxes', out=str(tmp_path / 'b'), size=(400, 300))
    html = check_outputs(tmp_path / 'b', (400, 300))
    assert 'chair 0.87' in html and '"bed"' in html
    gt_panel, pred_panel = fig.panels
    assert [t for layer in gt_panel.layers if hasattr(layer, 'strings')
            for t in layer.strings] == ['chair', 'bed']
    lines = [layer for layer in pred_panel.layers if hasattr(layer, 'segments')]
    assert len(lines) == 1 and lines[0].segments.shape == (12, 2, 3)
    # a class has the same colour in both panels
    assert lines[0].color == next(layer.color for layer in gt_panel.layers
                                  if getattr(layer, 'name', '') == 'chair')


def test_render_segmentation_uses_scannets_palette(cloud, tmp_path):
    palette = scannet_seg_palette()
    assert palette == [tuple(c) for c in ScanNetSegDataset.METAINFO['palette']]
    gt = np.arange(len(cloud)) % 21  # 20 = the ignore index
    pred = np.arange(len(cloud)) % 3
    fig = render_segmentation(cloud, {'ground truth': gt, 'prediction': pred}, title='seg',
                              out=str(tmp_path / 's'), size=(500, 250))
    html = check_outputs(tmp_path / 's', (500, 250))
    assert '"wall"' in html and '"unannotated"' in html
    wall = next(layer for layer in fig.panels[1].layers if layer.name == 'wall')
    assert wall.color == palette[0] and len(wall.xyz) == (pred == 0).sum()
    colors = label_colors(np.array([0, 19, 20, -1]), palette)
    np.testing.assert_array_equal(colors[:2], [palette[0], palette[19]])
    np.testing.assert_array_equal(colors[2], colors[3])  # both unannotated grey
    with pytest.raises(ValueError, match='3 labels for 256 points'):
        render_segmentation(cloud, {'gt': gt[:3]})


def test_colours_are_deterministic_and_distinct():
    assert index_colors(20) == index_colors(20)
    assert len(set(index_colors(64))) == 64


def test_png_size_is_exact_for_odd_sizes(cloud, tmp_path):
    from pt3kd_mm.visualization import Figure3D, Panel, Points
    fig = Figure3D([Panel('a', [Points(cloud, (0, 0, 0))])])
    for size in ((801, 399), (1203, 457), (97, 61)):
        fig.to_png(str(tmp_path / 'x.png'), size)
        with Image.open(tmp_path / 'x.png') as img:
            assert img.size == size



def test_every_renderer_html_opens_in_chromium_without_console_errors(cloud, tmp_path,
                                                                        chromium):
    """Each renderer's self-contained page, opened headless: no console error, no failed
    resource (skipped with the named reason where chromium is absent)."""
    from pt3kd_mm.testing.browser import check_html_in_chromium
    rng = np.random.default_rng(0)
    centers = cloud[:4]
    group_idx = rng.integers(0, len(cloud), size=(4, 8))
    groups = cloud[:64].reshape(8, 8, 3)
    box = np.array([[0, 0, 0, 1, 1, 1, 0.3]], dtype=np.float32)
    labels = rng.integers(0, 3, len(cloud))
    html = dict(formats=('html', ))
    render_groups(cloud, centers, group_idx, out=str(tmp_path / 'groups'), **html)
    render_reconstruction(cloud[:64], groups[:5], groups[5:], groups[5:] + 0.1,
                          out=str(tmp_path / 'rec'), **html)
    render_boxes(cloud, box, [0], box, [1], [0.9], ['a', 'b'], out=str(tmp_path / 'boxes'),
                 **html)
    render_segmentation(cloud, {'ground truth': labels, 'prediction': labels},
                        out=str(tmp_path / 'seg'), **html)
    for name in ('groups', 'rec', 'boxes', 'seg'):
        assert check_html_in_chromium(str(tmp_path / f'{name}.html')) == [], name
