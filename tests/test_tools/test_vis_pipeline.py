"""tools/visualization/vis_pipeline.py."""
from __future__ import annotations

import os
import os.path as osp

import pytest
import torch
from PIL import Image

TOOL = 'tools/visualization/vis_pipeline.py'


def png_size(path: str) -> tuple:
    """``(width, height)`` of a non-empty PNG."""
    assert osp.getsize(path) > 0
    with Image.open(path) as img:
        assert img.format == 'PNG'
        return img.size


def figure_px(inches: float, dpi: int) -> int:
    return int(round(inches * dpi))


@pytest.fixture(scope='module')
def images(synthetic_scenes) -> list:
    """Synthetic 256 x 192 scenes (no trained model needed here)."""
    folder = synthetic_scenes['unlabeled']
    return [osp.join(folder, f) for f in sorted(os.listdir(folder))
            if f.endswith('.jpg')][:3]


def test_gtsa_pipeline_pictures(tool_module, repo_root, images, tmp_path):
    vis = tool_module(TOOL)
    image = images[2]
    files = vis.main([osp.join(repo_root, 'configs/gtsa_vit-tiny_demo.py'),
                      image, '--out', str(tmp_path), '--seed', '3'])
    stem = osp.splitext(osp.basename(image))[0]
    assert [osp.basename(f) for f in files] == [f'{stem}_crops.png',
                                                f'{stem}_views.png']
    # 256 x 192 image: overview + one panel per global (2) at 4 in each.
    panels, inch = 3, vis.PANEL_INCHES
    assert png_size(files[0]) == (figure_px(inch * panels, vis.DPI),
                                  figure_px(inch * 192 / 256 + 0.6, vis.DPI))
    # 10 views on a 5-column grid.
    assert png_size(files[1]) == (figure_px(2.4 * 5, vis.DPI),
                                  figure_px(2.7 * 2, vis.DPI))


def test_geometry_is_the_models(tool_module, repo_root, images):
    """The boxes drawn in each view are the ones GTSAHead pools."""
    from mmpretrain.registry import MODELS

    from gtsa_plugin.apis.cli import load_config
    vis = tool_module(TOOL)
    cfg = load_config(osp.join(repo_root, 'configs/gtsa_vit-tiny_demo.py'))
    sample = vis.sample_crops(cfg, images[0], seed=0)
    boxes, rotations = sample['boxes'], sample['rotations']
    assert len(sample['crops']) == 10 and sample['num_global'] == 2
    assert boxes.shape == (10, 4) and rotations.shape == (10, )
    sizes = torch.tensor([c.shape[0] for c in sample['crops']])
    assert sizes.tolist() == [96] * 2 + [48] * 8

    head = MODELS.build(cfg.model.head)
    views = torch.arange(10)
    _, student, valid = head.pair_geometry(boxes[None], rotations[None],
                                           sizes, views, 2)
    inter = vis.intersections(boxes, 2)
    drawn = vis.boxes_in_views(inter, boxes, rotations, sizes)
    mask = valid[0]
    torch.testing.assert_close(drawn[mask], student[0][mask] *
                               head.feat_stride)

    # A crop turned k quarter turns counter-clockwise shows this original
    # direction at its top: k=0 up, 1 right, 2 down, 3 left.
    box = torch.tensor([[10., 20., 110., 80.]]).expand(4, 4)
    ups = vis.up_directions(box, torch.arange(4), torch.full((4, ), 48))
    assert ups.tolist() == [[0, -1], [1, 0], [0, 1], [-1, 0]]


def test_dino_pipeline_pictures(tool_module, repo_root, images, tmp_path):
    """DINO's crops have no rotations and its loss no geometry: only the
    overview panel, no intersections."""
    vis = tool_module(TOOL)
    files = vis.main([osp.join(repo_root, 'configs/dino_vit-tiny_demo.py'),
                      images[0], '--out', str(tmp_path)])
    assert png_size(files[0])[0] == figure_px(vis.PANEL_INCHES, vis.DPI)
    assert png_size(files[1])[0] > 0
