"""Draw the crops a config's training pipeline samples, and the geometry
the GTSA loss derives from them.

    python tools/visualization/vis_pipeline.py CONFIG IMAGE --out DIR \
        [--seed 0] [--cfg-options ...]

Runs the config's real train pipeline up to its multi-crop transform
(``LoadImageRGB`` + ``GTSAMultiCrop``, photometric augmentation included)
on IMAGE and writes into ``DIR``:

* ``<name>_crops.png``: left, every crop's box on the image (one colour per
  crop, globals thick), labelled ``g0``/``l3`` with its rotation ``k`` and an
  arrow pointing to the image direction that the network sees as "up"
  (``k`` counter-clockwise quarter turns move the right edge up for
  ``k=1``); then, per global (teacher) crop ``t``, the intersection of ``t``
  with every other crop ``s`` (filled in ``s``'s colour): the regions whose
  features the crop loss compares.
* ``<name>_views.png``: the crops as the network receives them (resized,
  augmented, rotated), each with the intersections with the global crops
  drawn in its own rotated frame (in the global's colour) -- exactly the
  boxes the model's RoIAlign pools.

All geometry comes from :mod:`gtsa_plugin.models.utils.crop_geometry`, the
functions the model's loss uses. DINO configs (``DINOMultiCrop``) are
drawn too, without rotations or intersections (DINO's loss ignores where
crops lie).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

# Runnable from anywhere: the repo root (two levels up) on the path.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import matplotlib  # noqa: E402

matplotlib.use('Agg')  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrow, Rectangle  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from gtsa_plugin.apis.cli import load_config, register_toolkit  # noqa: E402
from gtsa_plugin.models.utils.crop_geometry import (  # noqa: E402
    box_area, box_intersection, rotate_boxes, to_crop_frame)

#: Inches per panel and DPI of both figures.
PANEL_INCHES = 4.0
DPI = 100


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Draw a config's multi-crop sample and the GTSA "
        'teacher-student geometry on an image')
    parser.add_argument('config', help='pretraining config')
    parser.add_argument('image', help='image file')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed of the crop sampling (default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


# ------------------------------------------------------------ sampling
def train_pipeline_cfg(cfg: Config) -> List[dict]:
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
        'pipeline') or cfg.get('train_pipeline')
    if not pipeline:
        raise KeyError('the config has no train_dataloader.dataset.pipeline')
    return list(pipeline)


def sample_crops(cfg: Config, image_path: str, seed: int) -> Dict:
    """Run the train pipeline up to (and including) its multi-crop step.

    Returns:
        dict with ``image`` (HWC RGB uint8, the loaded original), ``crops``
        (HWC RGB uint8 views as the network gets them), ``boxes`` ``(N, 4)``
        float original-pixel boxes, ``rotations`` ``(N,)`` long,
        ``num_global``, ``transform`` (the multi-crop transform's type).
    """
    from mmpretrain.registry import TRANSFORMS
    steps = train_pipeline_cfg(cfg)
    index = next((i for i, t in enumerate(steps)
                  if str(t.get('type', '')).endswith('MultiCrop')), None)
    if index is None:
        raise ValueError('the train pipeline has no multi-crop transform '
                         f'(types: {[t.get("type") for t in steps]})')
    transforms = [TRANSFORMS.build(t) for t in steps[:index + 1]]
    # The crop sampling and the photometric transforms draw from numpy's
    # and Python's global generators.
    np.random.seed(seed)
    import random
    random.seed(seed)
    results = dict(img_path=image_path)
    for t in transforms[:-1]:
        results = t(results)
    original = results['img'][..., ::-1].copy()  # loaders give BGR
    results = transforms[-1](results)
    crops = [np.ascontiguousarray(c[..., ::-1]) for c in results['img']]
    num = len(crops)
    rotations = results.get('crop_rotations')
    if rotations is None:
        rotations = torch.zeros(num, dtype=torch.long)
    return dict(
        image=original,
        crops=crops,
        boxes=torch.as_tensor(results['crop_boxes'], dtype=torch.float32),
        rotations=torch.as_tensor(rotations, dtype=torch.long),
        num_global=int(transforms[-1].num_crops[0]),
        transform=type(transforms[-1]).__name__)


# ------------------------------------------------------------ geometry
def up_directions(boxes: torch.Tensor, rotations: torch.Tensor,
                  sizes: torch.Tensor) -> torch.Tensor:
    """Unit vectors (original image, x right / y down) pointing from each
    crop's centre to the edge that appears at the TOP of the rotated view.

    Derived with the model's own mapping (``to_crop_frame`` then
    ``rotate_boxes``) rather than a table, so the picture shows what the
    loss assumes: the edge midpoint that lands at the smallest ``y`` of the
    rotated frame is "up".
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    mids = torch.stack([
        torch.stack([cx, y1], -1), torch.stack([x2, cy], -1),
        torch.stack([cx, y2], -1), torch.stack([x1, cy], -1)
    ], 1)  # (N, 4 edges, 2): top, right, bottom, left
    points = torch.cat([mids, mids], -1)  # zero-size boxes
    n = boxes.shape[0]
    in_crop = to_crop_frame(points, boxes[:, None].expand(n, 4, 4),
                            sizes[:, None].expand(n, 4).float())
    turned = rotate_boxes(in_crop, rotations[:, None].expand(n, 4),
                          sizes[:, None].expand(n, 4))
    edge = turned[..., 1].argmin(dim=1)  # smallest y: the top
    unit = torch.tensor([[0., -1.], [1., 0.], [0., 1.], [-1., 0.]])
    return unit[edge]


def intersections(boxes: torch.Tensor, num_global: int) -> torch.Tensor:
    """``(T, N, 4)``: intersection of global ``t`` with every crop, original
    pixels (empty where ``x2 <= x1`` or ``y2 <= y1``)."""
    return box_intersection(boxes[:num_global, None], boxes[None])


def boxes_in_views(inter: torch.Tensor, boxes: torch.Tensor,
                   rotations: torch.Tensor,
                   sizes: torch.Tensor) -> torch.Tensor:
    """``(T, N, 4)``: each intersection ``(t, s)`` in crop ``s``'s resized
    and rotated frame (pixels of the view the network sees), as the
    model's ``GTSAHead.pair_geometry`` computes it (before dividing by the
    feature stride)."""
    t_count, n = inter.shape[:2]
    frame = to_crop_frame(inter, boxes[None].expand(t_count, n, 4),
                          sizes[None].expand(t_count, n).float())
    return rotate_boxes(frame, rotations[None].expand(t_count, n),
                        sizes[None].expand(t_count, n))


# ------------------------------------------------------------- drawing
def crop_names(num: int, num_global: int) -> List[str]:
    return [f'g{i}' if i < num_global else f'l{i - num_global}'
            for i in range(num)]


def crop_colours(num: int) -> List[tuple]:
    cmap = plt.get_cmap('tab10' if num <= 10 else 'tab20')
    return [cmap(i % cmap.N) for i in range(num)]


def _draw_box(ax, box, colour, width, fill=False, alpha=1.0, style='-'):
    x1, y1, x2, y2 = [float(v) for v in box]
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=fill,
                           edgecolor=colour, facecolor=colour if fill else
                           'none', linewidth=width, alpha=alpha,
                           linestyle=style))


def crops_figure(sample: Dict, path: str) -> None:
    """Boxes, rotations and (GTSA) the teacher-student intersections."""
    image, boxes = sample['image'], sample['boxes']
    rotations, num_global = sample['rotations'], sample['num_global']
    num = boxes.shape[0]
    names, colours = crop_names(num, num_global), crop_colours(num)
    sizes = torch.tensor([c.shape[0] for c in sample['crops']])
    geometric = sample['transform'] == 'GTSAMultiCrop'
    panels = 1 + (num_global if geometric else 0)
    h, w = image.shape[:2]
    fig, axes = plt.subplots(
        1, panels, figsize=(PANEL_INCHES * panels, PANEL_INCHES * h / w + 0.6),
        dpi=DPI, squeeze=False, layout='constrained')
    axes = axes[0]

    ax = axes[0]
    ax.imshow(image)
    ax.set_title(f'{sample["transform"]}: {num} crops '
                 f'({num_global} global)', fontsize=9)
    ups = up_directions(boxes, rotations, sizes)
    for i in range(num):
        box = boxes[i]
        _draw_box(ax, box, colours[i], 3.0 if i < num_global else 1.2)
        label = names[i] + (f' k={int(rotations[i])}' if geometric else '')
        ax.text(float(box[0]) + 2, float(box[1]) + 2, label, fontsize=7,
                color='white', va='top',
                bbox=dict(facecolor=colours[i], alpha=0.8, pad=1,
                          edgecolor='none'))
        if geometric:
            cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
            length = 0.3 * float(min(box[2] - box[0], box[3] - box[1]))
            dx, dy = (ups[i] * length).tolist()
            ax.add_patch(FancyArrow(cx, cy, dx, dy, width=max(1.0, length /
                                                              12),
                                    color=colours[i], alpha=0.9,
                                    length_includes_head=True))

    if geometric:
        inter = intersections(boxes, num_global)
        area = box_area(inter)
        for t in range(num_global):
            ax = axes[1 + t]
            ax.imshow(image, alpha=0.45)
            _draw_box(ax, boxes[t], colours[t], 3.0)
            pairs = 0
            for s in range(num):
                if s == t or area[t, s] <= 0:
                    continue
                pairs += 1
                _draw_box(ax, inter[t, s], colours[s], 1.0, fill=True,
                          alpha=0.25)
                _draw_box(ax, inter[t, s], colours[s], 1.2)
                ax.text(float(inter[t, s, 0]) + 1, float(inter[t, s, 3]) - 1,
                        names[s], fontsize=6, color=colours[s], va='bottom')
            ax.set_title(f'teacher {names[t]} k={int(rotations[t])}: '
                         f'{pairs} intersections', fontsize=9)
    for ax in axes:
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_axis_off()
    fig.savefig(path, dpi=DPI)  # exactly figsize x dpi pixels
    plt.close(fig)


def views_figure(sample: Dict, path: str, cols: int = 5) -> None:
    """The crops as the network sees them, with the intersections with
    each global crop in the crop's own (rotated) frame."""
    crops, boxes = sample['crops'], sample['boxes']
    rotations, num_global = sample['rotations'], sample['num_global']
    num = len(crops)
    names, colours = crop_names(num, num_global), crop_colours(num)
    sizes = torch.tensor([c.shape[0] for c in crops])
    geometric = sample['transform'] == 'GTSAMultiCrop'
    if geometric:
        inter = intersections(boxes, num_global)
        valid = box_area(inter) > 0
        in_view = boxes_in_views(inter, boxes, rotations, sizes)
    cols = min(cols, num)
    rows = (num + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.7 * rows),
                             dpi=DPI, squeeze=False, layout='constrained')
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= num:
            continue
        size = crops[i].shape[0]
        ax.imshow(crops[i], extent=(0, size, size, 0))
        title = f'{names[i]} {size}px'
        if geometric:
            title += f' k={int(rotations[i])}'
            for t in range(num_global):
                if t != i and valid[t, i]:
                    _draw_box(ax, in_view[t, i], colours[t], 0, fill=True,
                              alpha=0.18)
                    _draw_box(ax, in_view[t, i], colours[t], 2.0,
                              style='--')
        ax.add_patch(Rectangle((0, 0), size, size, fill=False,
                               edgecolor=colours[i], linewidth=3))
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_title(title, fontsize=8)
    if geometric:
        fig.suptitle('views as the network sees them; dashed: the overlap '
                     'with each global crop (its colour)', fontsize=9)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Run the tool; returns the written files."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    from mmengine.registry import init_default_scope
    init_default_scope(register_toolkit(cfg))
    sample = sample_crops(cfg, args.image, args.seed)
    os.makedirs(args.out, exist_ok=True)
    stem = osp.splitext(osp.basename(args.image))[0]
    files = [osp.join(args.out, f'{stem}_crops.png'),
             osp.join(args.out, f'{stem}_views.png')]
    crops_figure(sample, files[0])
    views_figure(sample, files[1])
    print(f'wrote {files[0]} and {files[1]}')
    return files


if __name__ == '__main__':
    main()
