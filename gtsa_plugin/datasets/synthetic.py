"""Seeded synthetic, non-object-centric scenes for smoke tests and demos.

Every scene is a textured two-region background ("stuff": ground below a wavy
horizon, sky above), a few unlabelled clutter blobs, and several objects
("things") drawn from ``K`` classes. Each class has its own shape, colour
family and texture, so a classifier, detector or segmenter can learn them.
Objects overlap; later objects occlude earlier ones and every instance mask
is the part that is *visible* in the final image.

The same scenes are written in four layouts (see
:func:`generate_synthetic_scenes`): an unlabelled image folder for
pretraining, COCO instances (mmdet), ADE20K-style semantic masks (mmseg) and
ImageNet-style object crops (mmpretrain).

Conventions:

* Coordinates are pixels, ``x`` to the right, ``y`` down; pixel ``(x, y)``
  covers the square ``[x, x + 1) x [y, y + 1)``, so a polygon vertex at
  ``(x, y)`` is that pixel's top-left corner (pycocotools' convention).
* Image sizes are ``(width, height)``; arrays are ``(height, width[, 3])``,
  RGB, ``uint8``.
* COCO ``bbox`` is ``[x, y, w, h]`` of the visible mask's tight box
  (``w = x_max - x_min + 1``); ``area`` is the visible pixel count; category
  ids are ``1..K`` in :data:`SYNTHETIC_CLASSES` order; image ids are the
  scene index plus one (file ``000000.jpg`` is image id 1).
* ADE masks: ``0`` = unlabelled/"other" (clutter and instances dropped for
  being almost hidden), ``1..S`` = :data:`STUFF_CLASSES`, ``S+1..S+K`` =
  object classes; use ``reduce_zero_label=True`` in mmseg.
* Determinism: scene ``i`` is rendered from
  ``SeedSequence(seed, spawn_key=(i,))`` alone (plus size and ``K``), and the
  files are encoded with fixed settings, so equal arguments give
  byte-identical files.

Only numpy, OpenCV and Pillow are imported at module level (pycocotools and
tqdm lazily), so configs can import this cheaply.
"""
from __future__ import annotations

import colorsys
import io
import json
import os
import os.path as osp
import shutil
import uuid
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

__all__ = [
    'SYNTHETIC_CLASSES', 'STUFF_CLASSES', 'synthetic_classes', 'render_scene',
    'mask_to_coco_segmentation', 'generate_synthetic_scenes',
    'ensure_synthetic_scenes', 'synthetic_scene_paths'
]

#: Object ("thing") class names; a dataset with ``K`` classes uses the first K.
SYNTHETIC_CLASSES: Tuple[str, ...] = ('disc', 'box', 'triangle', 'star',
                                      'ellipse', 'cross', 'ring', 'crescent',
                                      'hexagon', 'arrow')
#: Background ("stuff") class names, ADE labels 1..S in this order.
STUFF_CLASSES: Tuple[str, ...] = ('ground', 'sky')

# Per-class colour family (hue in degrees) and texture; together with the
# shape they make every class distinct.
_CLASS_HUES = (0., 215., 120., 52., 285., 28., 178., 328., 88., 245.)
_CLASS_TEXTURES = ('flat', 'stripes', 'checker', 'gradient', 'dots',
                   'stripes', 'checker', 'gradient', 'dots', 'flat')

JPEG_QUALITY = 90
CROP_SIZE = 64
MIN_VISIBLE_AREA = 16  # instances less visible than this are dropped
_META_NAME = 'meta.json'


def synthetic_classes(num_classes: int = 4) -> Dict[str, List[str]]:
    """Class lists of a dataset with ``num_classes`` object classes.

    Returns ``{'coco': K names (category ids 1..K), 'ade': S + K names (ADE
    labels 1..S+K; label 0 is unlabelled), 'cls': K names (crop folders)}``.
    """
    _check_num_classes(num_classes)
    things = list(SYNTHETIC_CLASSES[:num_classes])
    return {
        'coco': list(things),
        'ade': list(STUFF_CLASSES) + things,
        'cls': list(things)
    }


def _check_num_classes(num_classes: int) -> None:
    if not 1 <= int(num_classes) <= len(SYNTHETIC_CLASSES):
        raise ValueError(f'num_classes must be in 1..{len(SYNTHETIC_CLASSES)}'
                         f', got {num_classes}')


# --------------------------------------------------------------- rendering
def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    """HSV (hue in degrees, sat/val in [0, 1]) to an RGB float32 triple."""
    r, g, b = colorsys.hsv_to_rgb((hue / 360.) % 1., float(np.clip(sat, 0, 1)),
                                  float(np.clip(val, 0, 1)))
    return np.array([r, g, b], np.float32) * 255.


def _smooth_noise(rng: np.random.Generator, h: int, w: int,
                  cells: float) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid, upsampled."""
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), 0,
                   1)


def _texture(kind: str, h: int, w: int, period: float,
             rng: np.random.Generator) -> np.ndarray:
    """A (h, w) float32 pattern in [0, 1] used to blend two colours."""
    theta = rng.uniform(0, np.pi)
    off_u, off_v = rng.uniform(0, period, 2)
    if kind == 'flat':
        return 0.35 * _smooth_noise(rng, h, w, 3)
    if kind == 'noise':
        return _smooth_noise(rng, h, w, max(h, w) / period)
    # Rotated coordinates, built by broadcasting a column and a row.
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u = (xx * cos + off_u) + yy * sin
    v = (yy * cos + off_v) - xx * sin
    if kind == 'stripes':
        return (np.sin(2 * np.pi * u / period) > 0).astype(np.float32)
    if kind == 'checker':
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(
            np.float32)
    if kind == 'gradient':
        return (u - u.min()) / max(float(u.max() - u.min()), 1.)
    if kind == 'dots':
        du = u % period - period / 2
        dv = v % period - period / 2
        return (du * du + dv * dv < (0.3 * period)**2).astype(np.float32)
    raise ValueError(f'unknown texture {kind!r}')


def _circle(n: int = 48, radius: float = 1., cx: float = 0.,
            cy: float = 0.) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + radius * np.cos(a), cy + radius * np.sin(a)], 1)


def _shape_polygons(name: str, rng: np.random.Generator
                    ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Unit-radius outline of a class: (filled polygons, hole polygons).

    All vertices lie within distance 1 of the origin, so scaling by ``r``
    keeps the shape inside a circle of radius ``r``.
    """
    if name == 'disc':
        return [_circle()], []
    if name == 'box':
        phi = rng.uniform(np.radians(30), np.radians(45))  # aspect 0.58..1
        hw, hh = np.cos(phi), np.sin(phi)
        return [np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])], []
    if name == 'triangle':
        a = np.radians(90 + 120 * np.arange(3)) + rng.uniform(-0.15, 0.15, 3)
        r = rng.uniform(0.85, 1., 3)
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)], []
    if name == 'star':
        a = np.radians(-90 + 36 * np.arange(10))
        r = np.where(np.arange(10) % 2 == 0, 1., 0.42)
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)], []
    if name == 'ellipse':
        c = _circle()
        c[:, 1] *= rng.uniform(0.4, 0.6)
        return [c], []
    if name == 'cross':
        w = 0.3
        p = np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w],
                      [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w]])
        return [p / np.hypot(1, w)], []
    if name == 'ring':
        return [_circle()], [_circle(radius=0.5)]
    if name == 'crescent':
        return [_circle()], [_circle(radius=0.85, cx=0.45)]
    if name == 'hexagon':
        return [_circle(6)], []
    if name == 'arrow':
        p = np.array([[-1, -0.22], [0.15, -0.22], [0.15, -0.6], [1, 0],
                      [0.15, 0.6], [0.15, 0.22], [-1, 0.22]])
        return [p / np.hypot(1, 0.22)], []
    raise ValueError(f'unknown shape {name!r}')


_SHIFT = 4  # sub-pixel bits for cv2.fillPoly


def _fill(mask: np.ndarray, polys: Sequence[np.ndarray], value: int) -> None:
    # Pixel centres sit at integer coordinates in cv2's convention, at +0.5 in
    # ours; hence the -0.5.
    pts = [np.round((p - 0.5) * (1 << _SHIFT)).astype(np.int32) for p in polys]
    cv2.fillPoly(mask, pts, value, lineType=cv2.LINE_8, shift=_SHIFT)


def _rasterise(cls_name: str, cx: float, cy: float, radius: float,
               theta: float, size_hw: Tuple[int, int],
               rng: np.random.Generator) -> np.ndarray:
    """Boolean (H, W) mask of one object placed at (cx, cy), rotated."""
    fills, holes = _shape_polygons(cls_name, rng)
    rot = np.array([[np.cos(theta), -np.sin(theta)],
                    [np.sin(theta), np.cos(theta)]])

    def place(p: np.ndarray) -> np.ndarray:
        return p @ rot.T * radius + np.array([cx, cy])

    mask = np.zeros(size_hw, np.uint8)
    _fill(mask, [place(p) for p in fills], 1)
    if holes:
        _fill(mask, [place(p) for p in holes], 0)
    return mask.astype(bool)


def _paint(image: np.ndarray, mask: np.ndarray, c1: np.ndarray,
           c2: np.ndarray, kind: str, period: float,
           rng: np.random.Generator, noise: float = 5.) -> None:
    """Fill ``image[mask]`` with a texture blending colours c1 and c2."""
    x0, y0, bw, bh = cv2.boundingRect(mask.view(np.uint8))
    if bw == 0:
        return
    y1, x1 = y0 + bh, x0 + bw
    t = _texture(kind, bh, bw, period, rng)[..., None]
    patch = c1 * (1 - t) + c2 * t
    patch += noise * rng.standard_normal(t.shape, dtype=np.float32)
    m = mask[y0:y1, x0:x1]
    image[y0:y1, x0:x1][m] = patch[m]


def _scene_rng(seed: int, index: int) -> np.random.Generator:
    # Equivalent to SeedSequence(seed).spawn(...)[index]: scene i's stream
    # depends on (seed, i) only, not on how many scenes are generated.
    return np.random.default_rng(
        np.random.SeedSequence(int(seed), spawn_key=(int(index), )))


def _grid_cells(rng: np.random.Generator, n: int, w: int,
                h: int) -> List[Tuple[float, float, float, float]]:
    """``n`` disjoint random cells (x0, y0, x1, y1) of a random grid."""
    layouts = []
    for rows in range(1, n + 1):
        min_cols = -(-n // rows)  # ceil(n / rows)
        for cols in (min_cols, min_cols + 1):
            aspect = (w / cols) / (h / rows)
            if 0.5 <= aspect <= 2:
                layouts.append((rows, cols))
    if not layouts:  # extreme image aspect ratio: best effort
        layouts = [(n, 1)] if h > w else [(1, n)]
    rows, cols = layouts[rng.integers(len(layouts))]
    picked = rng.permutation(rows * cols)[:n]
    cw, ch = w / cols, h / rows
    return [((k % cols) * cw, (k // cols) * ch, (k % cols + 1) * cw,
             (k // cols + 1) * ch) for k in picked]


def render_scene(index: int, seed: int = 0,
                 image_size: Tuple[int, int] = (256, 192),
                 num_classes: int = 4) -> dict:
    """Render scene ``index`` of the dataset with ``seed``.

    Returns a dict with ``image`` (H, W, 3) uint8 RGB, ``semantic`` (H, W)
    uint8 ADE labels (see the module docstring) and ``instances``: a list, in
    drawing order, of dicts ``category`` (0-based class index), ``mask``
    (bool (H, W), visible part) and ``drawn_area`` (pixels the object covered
    in the image before occlusion). Instances with fewer than
    :data:`MIN_VISIBLE_AREA` visible pixels are left out (their pixels are
    ADE label 0).

    Layout: the last ``f = min(K, 4)`` objects are "featured": drawn on top,
    in disjoint cells of a random grid, with classes ``(index * f + j) % K``,
    so consecutive scenes cycle through the classes and every featured object
    is fully visible. 1-4 "filler" objects of random classes, sizes and
    positions are drawn first, behind them and over each other.
    """
    _check_num_classes(num_classes)
    w, h = (int(s) for s in image_size)
    rng = _scene_rng(seed, index)
    n_stuff = len(STUFF_CLASSES)
    ground_label, sky_label = 1, 2

    # Background: sky above a wavy horizon, ground below.
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    horizon = (rng.uniform(0.25, 0.75) * h +
               rng.uniform(0.02, 0.1) * h * np.sin(
                   2 * np.pi * xx / (w * rng.uniform(0.5, 2)) +
                   rng.uniform(0, 2 * np.pi)) +
               rng.uniform(0, 0.03) * h * np.sin(
                   2 * np.pi * xx / (w * rng.uniform(0.1, 0.3)) +
                   rng.uniform(0, 2 * np.pi)))
    ground = yy + 0.5 >= horizon  # (H, W), pixel centres below the horizon

    sky_top = _rgb(rng.uniform(190, 235), rng.uniform(0.2, 0.45),
                   rng.uniform(0.6, 0.95))
    sky_low = _rgb(rng.uniform(180, 230), rng.uniform(0.05, 0.2),
                   rng.uniform(0.85, 1.))
    ramp = np.clip(yy / max(float(horizon.max()), 1.), 0, 1)[..., None]
    sky = sky_top * (1 - ramp) + sky_low * ramp
    clouds = _smooth_noise(rng, h, w, rng.uniform(3, 8))[..., None]
    cloud_amount = rng.uniform(0, 0.6)
    sky = sky * (1 - cloud_amount * clouds) + 245. * cloud_amount * clouds
    g_hue = rng.uniform(20, 110)
    g1 = _rgb(g_hue, rng.uniform(0.15, 0.45), rng.uniform(0.35, 0.65))
    g2 = _rgb(g_hue + rng.uniform(-15, 15), rng.uniform(0.1, 0.4),
              rng.uniform(0.2, 0.45))
    g_kind = ('noise', 'stripes', 'checker', 'gradient')[rng.integers(4)]
    g_t = _texture(g_kind, h, w, rng.uniform(0.04, 0.15) * max(w, h),
                   rng)[..., None]
    g_t = g_t * rng.uniform(0.4, 1.)
    ground_rgb = g1 * (1 - g_t) + g2 * g_t
    image = np.where(ground[..., None], ground_rgb, sky).astype(np.float32)
    image += 3 * rng.standard_normal((h, w, 1), dtype=np.float32)
    semantic = np.where(ground, ground_label, sky_label).astype(np.uint8)

    short = min(w, h)
    # Unlabelled clutter ("other", ADE 0): irregular low-saturation blobs.
    for _ in range(int(rng.integers(0, 3))):
        k = int(rng.integers(7, 12))
        a = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.04, 0.12) * short * rng.uniform(0.6, 1., k)
        c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        blob = np.zeros((h, w), np.uint8)
        _fill(blob, [c + np.stack([r * np.cos(a), r * np.sin(a)], 1)], 1)
        blob = blob.astype(bool)
        tone = rng.uniform(0.25, 0.8)
        _paint(image, blob, _rgb(rng.uniform(0, 360), 0.08, tone),
               _rgb(rng.uniform(0, 360), 0.08, tone * 0.7), 'noise',
               rng.uniform(4, 12), rng)
        semantic[blob] = 0

    # Objects: fillers first (behind), featured ones on top.
    n_feat = min(num_classes, 4)
    n_fill = int(rng.integers(1, 5))
    specs = []  # (class index, cx, cy, radius)
    for _ in range(n_fill):
        specs.append((int(rng.integers(num_classes)), rng.uniform(0, w),
                      rng.uniform(0, h), rng.uniform(0.06, 0.3) * short))
    for j, (x0, y0, x1, y1) in enumerate(_grid_cells(rng, n_feat, w, h)):
        half = min(x1 - x0, y1 - y0) / 2
        r = rng.uniform(0.55, 0.95) * half
        specs.append(((index * n_feat + j) % num_classes,
                      rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r),
                      r))

    owner = np.full((h, w), -1, np.int16)  # index into specs, -1 = none
    drawn_area = []
    for k, (c, cx, cy, r) in enumerate(specs):
        mask = _rasterise(SYNTHETIC_CLASSES[c], cx, cy, r,
                          rng.uniform(0, 2 * np.pi), (h, w), rng)
        hue = _CLASS_HUES[c] + rng.uniform(-12, 12)
        c1 = _rgb(hue, rng.uniform(0.65, 1.), rng.uniform(0.7, 1.))
        c2 = _rgb(hue + rng.uniform(-10, 10), rng.uniform(0.5, 0.9),
                  rng.uniform(0.3, 0.55))
        _paint(image, mask, c1, c2, _CLASS_TEXTURES[c],
               max(3., r * rng.uniform(0.25, 0.5)), rng)
        owner[mask] = k
        drawn_area.append(cv2.countNonZero(mask.view(np.uint8)))

    instances = []
    for k, (c, _, _, _) in enumerate(specs):
        visible = owner == k
        if cv2.countNonZero(visible.view(np.uint8)) >= MIN_VISIBLE_AREA:
            semantic[visible] = n_stuff + 1 + c
            instances.append(
                dict(category=c, mask=visible, drawn_area=drawn_area[k]))
        else:
            semantic[visible] = 0  # an almost hidden object is "other"
    return dict(
        image=np.clip(np.rint(image, out=image), 0, 255, out=image).astype(
            np.uint8),
        semantic=semantic,
        instances=instances)


# ------------------------------------------------------------- annotations
def _tight_bbox(mask: np.ndarray) -> List[int]:
    """``[x, y, w, h]`` of the non-zero pixels of a bool/uint8 mask."""
    return [int(v) for v in cv2.boundingRect(mask.view(np.uint8))]


def _outset(contour: np.ndarray) -> np.ndarray:
    """Move a closed contour through boundary pixel centres half a pixel out.

    cv2 contours join the centres of boundary pixels, which lose half a
    pixel all round when rasterised as polygons; a miter offset by 0.5 puts
    straight edges on the pixel borders (exactly for axis-aligned runs).
    """
    p = contour.astype(np.float64) + 0.5  # pixel centres, our convention
    nxt = np.roll(p, -1, 0)
    edge = nxt - p
    length = np.maximum(np.linalg.norm(edge, axis=1, keepdims=True), 1e-9)
    signed_area = 0.5 * np.sum(p[:, 0] * nxt[:, 1] - nxt[:, 0] * p[:, 1])
    normal = np.stack([edge[:, 1], -edge[:, 0]], 1) / length
    if signed_area < 0:
        normal = -normal
    n_in, n_out = np.roll(normal, 1, 0), normal  # edges into / out of vertex
    denom = np.maximum(1 + np.sum(n_in * n_out, 1, keepdims=True), 0.5)
    return p + 0.5 * (n_in + n_out) / denom


def mask_to_coco_segmentation(mask: np.ndarray) -> object:
    """COCO ``segmentation`` of a boolean (H, W) mask.

    Polygons (outer contours from ``cv2.findContours``, moved onto pixel
    borders, contours with < 3 points skipped) when they reproduce the mask
    (IoU >= 0.9 and tight box within 1 px after pycocotools rasterisation);
    otherwise, e.g. for masks with holes, uncompressed-to-str RLE
    ``{'size': [H, W], 'counts': str}``.
    """
    from pycocotools import mask as mask_utils

    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    contours, hierarchy = cv2.findContours(m8, cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    has_hole = hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())
    polys = [
        np.round(_outset(c.reshape(-1, 2)), 2).ravel().tolist()
        for c in contours if len(c) >= 3
    ]
    if polys and not has_hole:
        drawn = mask_utils.decode(
            mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)
        inter = np.logical_and(drawn, mask).sum()
        union = np.logical_or(drawn, mask).sum()
        if drawn.any() and inter >= 0.9 * union and max(
                abs(a - b)
                for a, b in zip(_tight_bbox(drawn), _tight_bbox(mask))) <= 1:
            return polys
    rle = mask_utils.encode(np.asfortranarray(m8))
    return {'size': [int(h), int(w)], 'counts': rle['counts'].decode('ascii')}


# ----------------------------------------------------------------- writing
def synthetic_scene_paths(out_dir: str, num_classes: int = 4) -> dict:
    """The paths :func:`generate_synthetic_scenes` writes under ``out_dir``."""
    j = osp.join
    return {
        'root': out_dir,
        'unlabeled': j(out_dir, 'unlabeled'),
        'coco_train_ann': j(out_dir, 'coco', 'annotations',
                            'instances_train.json'),
        'coco_val_ann': j(out_dir, 'coco', 'annotations',
                          'instances_val.json'),
        'coco_train_img': j(out_dir, 'coco', 'train'),
        'coco_val_img': j(out_dir, 'coco', 'val'),
        'ade_img_train': j(out_dir, 'ade', 'images', 'training'),
        'ade_img_val': j(out_dir, 'ade', 'images', 'validation'),
        'ade_ann_train': j(out_dir, 'ade', 'annotations', 'training'),
        'ade_ann_val': j(out_dir, 'ade', 'annotations', 'validation'),
        'cls_train': j(out_dir, 'cls', 'train'),
        'cls_val': j(out_dir, 'cls', 'val'),
        'classes': synthetic_classes(num_classes),
    }


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == 'JPEG':
        Image.fromarray(array).save(buf, 'JPEG', quality=JPEG_QUALITY)
    else:
        Image.fromarray(array).save(buf, 'PNG')
    return buf.getvalue()


def _write(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def _crop(image: np.ndarray, bbox: Sequence[int]) -> np.ndarray:
    """Square window around ``bbox`` with 15% padding, slid to stay inside
    the image when it fits, resized to CROP_SIZE x CROP_SIZE."""
    h, w = image.shape[:2]
    x, y, bw, bh = bbox
    side = int(np.ceil(max(bw, bh) * 1.15)) + 2
    x0 = int(round(x + bw / 2 - side / 2))
    y0 = int(round(y + bh / 2 - side / 2))
    x0 = min(max(x0, 0), max(w - side, 0))
    y0 = min(max(y0, 0), max(h - side, 0))
    patch = image[y0:y0 + side, x0:x0 + side]
    return np.asarray(
        Image.fromarray(patch).resize((CROP_SIZE, CROP_SIZE),
                                      Image.BILINEAR))


def _make_dirs(paths: dict) -> None:
    for key, p in paths.items():
        if key in ('root', 'classes'):
            continue
        os.makedirs(osp.dirname(p) if p.endswith('.json') else p,
                    exist_ok=True)
    for split in ('cls_train', 'cls_val'):
        for name in paths['classes']['cls']:
            os.makedirs(osp.join(paths[split], name), exist_ok=True)


def _write_dataset(out_dir: str, num_images: int, seed: int,
                   image_size: Tuple[int, int], num_classes: int,
                   val_fraction: float, progress: bool) -> None:
    """Write all layouts into ``out_dir`` (assumed to be private)."""
    n_val = min(max(1, int(round(num_images * val_fraction))), num_images - 1)
    n_train = num_images - n_val
    paths = synthetic_scene_paths(out_dir, num_classes)
    _make_dirs(paths)
    classes = paths['classes']
    categories = [
        dict(id=i + 1, name=n, supercategory='shape')
        for i, n in enumerate(classes['coco'])
    ]
    coco = {s: dict(images=[], annotations=[], categories=categories)
            for s in ('train', 'val')}
    ann_id = 0
    indices = range(num_images)
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc='synthetic scenes', unit='img')
    for i in indices:
        train = i < n_train
        split = 'train' if train else 'val'
        scene = render_scene(i, seed, image_size, num_classes)
        stem = f'{i:06d}'
        jpg = _encode(scene['image'], 'JPEG')
        _write(osp.join(paths[f'coco_{split}_img'], stem + '.jpg'), jpg)
        if train:
            _write(osp.join(paths['unlabeled'], stem + '.jpg'), jpg)
        ade = 'train' if train else 'val'
        _write(osp.join(paths[f'ade_img_{ade}'], stem + '.jpg'), jpg)
        _write(osp.join(paths[f'ade_ann_{ade}'], stem + '.png'),
               _encode(scene['semantic'], 'PNG'))
        h, w = scene['semantic'].shape
        coco[split]['images'].append(
            dict(id=i + 1, file_name=stem + '.jpg', width=w, height=h))
        for j, inst in enumerate(scene['instances']):
            ann_id += 1
            mask = inst['mask']
            area = cv2.countNonZero(mask.view(np.uint8))
            bbox = _tight_bbox(mask)
            coco[split]['annotations'].append(
                dict(id=ann_id, image_id=i + 1,
                     category_id=inst['category'] + 1,
                     segmentation=mask_to_coco_segmentation(mask),
                     area=area, bbox=bbox, iscrowd=0))
            # Crop only objects that are mostly visible and not tiny.
            if area >= 0.5 * inst['drawn_area'] and min(bbox[2:]) >= 8:
                name = classes['cls'][inst['category']]
                _write(
                    osp.join(paths[f'cls_{split}'], name,
                             f'{stem}_{j:02d}.jpg'),
                    _encode(_crop(scene['image'], bbox), 'JPEG'))
    for split in ('train', 'val'):
        with open(paths[f'coco_{split}_ann'], 'w') as f:
            json.dump(coco[split], f, separators=(',', ':'))
    meta = dict(
        classes=classes,
        stuff_classes=list(STUFF_CLASSES),
        args=dict(num_images=int(num_images), seed=int(seed),
                  image_size=[int(s) for s in image_size],
                  num_classes=int(num_classes),
                  val_fraction=float(val_fraction)),
        num_train=n_train, num_val=n_val, jpeg_quality=JPEG_QUALITY,
        crop_size=CROP_SIZE, min_visible_area=MIN_VISIBLE_AREA)
    with open(osp.join(out_dir, _META_NAME), 'w') as f:
        json.dump(meta, f, indent=1)


def _is_populated(out_dir: str) -> bool:
    unl = osp.join(out_dir, 'unlabeled')
    return osp.isdir(unl) and len(os.listdir(unl)) > 0


def _build(out_dir: str, replace: bool, **kwargs) -> bool:
    """Generate into a private sibling folder, then rename it into place.

    Returns True when this call's output ended up at ``out_dir``. With
    ``replace=False`` an existing non-empty ``out_dir`` (e.g. written by a
    concurrent caller that won the race) is kept and our copy discarded.
    """
    out_dir = osp.normpath(out_dir)
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = osp.join(parent, f'.{osp.basename(out_dir)}.tmp-{os.getpid()}-'
                   f'{uuid.uuid4().hex[:8]}')
    try:
        _write_dataset(tmp, **kwargs)
        for _ in range(5):
            try:
                # Atomic on POSIX; fails if out_dir exists and is not empty.
                os.rename(tmp, out_dir)
                return True
            except OSError:
                if not osp.exists(out_dir):
                    continue  # vanished between our checks: just retry
                if not replace:
                    return False
                trash = tmp + '.old'
                try:
                    os.rename(out_dir, trash)
                except OSError:
                    continue
                shutil.rmtree(trash, ignore_errors=True)
        raise RuntimeError(f'could not move synthetic scenes to {out_dir}')
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _check_args(num_images: int, image_size: Sequence[int],
                num_classes: int, val_fraction: float) -> None:
    _check_num_classes(num_classes)
    if num_images < 2:
        raise ValueError('num_images must be >= 2 (one train, one val)')
    if len(image_size) != 2 or min(image_size) < 16:
        raise ValueError(f'image_size must be (width, height) >= 16 px, got '
                         f'{image_size}')
    if not 0 <= val_fraction < 1:
        raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}')


def generate_synthetic_scenes(out_dir: str, num_images: int = 16,
                              seed: int = 0,
                              image_size: tuple = (256, 192),
                              num_classes: int = 4,
                              val_fraction: float = 0.25,
                              progress: bool = False) -> dict:
    """Write ``num_images`` synthetic scenes under ``out_dir`` in all layouts.

    The last ``max(1, round(num_images * val_fraction))`` scenes (keeping at
    least one train scene) are the validation split, the rest train; scene
    ``i`` is named ``f'{i:06d}'`` everywhere. Layout::

        meta.json                       classes dict + generation arguments
        unlabeled/000000.jpg ...        train scenes (pretraining)
        coco/{train,val}/*.jpg          same scenes
        coco/annotations/instances_{train,val}.json
        ade/images/{training,validation}/*.jpg
        ade/annotations/{training,validation}/*.png   uint8 labels
        cls/{train,val}/<class>/<scene>_<obj>.jpg      64x64 object crops

    An existing ``out_dir`` is replaced. Writing goes to a temporary sibling
    folder renamed into place, so readers never see a half-written dataset.

    Args:
        out_dir: Dataset root.
        num_images: Number of scenes (>= 2).
        seed: Base seed; scene ``i`` uses ``SeedSequence(seed,
            spawn_key=(i,))``.
        image_size: ``(width, height)`` in pixels.
        num_classes: Number of object classes ``K`` (1..10).
        val_fraction: Fraction of scenes in the validation split.
        progress: Show a tqdm progress bar.

    Returns:
        dict: The written paths (see :func:`synthetic_scene_paths`) and
        ``'classes'``: ``{'coco': [...], 'ade': [...], 'cls': [...]}``.
    """
    _check_args(num_images, image_size, num_classes, val_fraction)
    kwargs = dict(num_images=num_images, seed=seed,
                  image_size=tuple(image_size), num_classes=num_classes,
                  val_fraction=val_fraction, progress=progress)
    _build(out_dir, replace=True, **kwargs)
    return synthetic_scene_paths(out_dir, num_classes)


def ensure_synthetic_scenes(out_dir: str, **kwargs) -> dict:
    """Generate the scenes unless ``out_dir/unlabeled`` already has files.

    Takes the keyword arguments of :func:`generate_synthetic_scenes` and
    returns the same dict. Safe to call from several processes at once (e.g.
    every DDP rank): each writes a private copy and the first rename wins;
    the others discard theirs. An existing dataset is never rewritten; its
    class lists are read from its ``meta.json``.
    """
    if not _is_populated(out_dir):
        args = dict(num_images=16, seed=0, image_size=(256, 192),
                    num_classes=4, val_fraction=0.25, progress=False)
        unknown = set(kwargs) - set(args)
        if unknown:
            raise TypeError(f'unexpected arguments {sorted(unknown)}')
        args.update(kwargs)
        _check_args(args['num_images'], args['image_size'],
                    args['num_classes'], args['val_fraction'])
        args['image_size'] = tuple(args['image_size'])
        _build(out_dir, replace=False, **args)
        if not _is_populated(out_dir):
            raise RuntimeError(
                f'{out_dir} exists but is not a synthetic scene dataset '
                '(no files in unlabeled/); remove it or pick another folder')
    return _existing_paths(out_dir, kwargs)


def _existing_paths(out_dir: str, requested: dict) -> dict:
    meta_path = osp.join(out_dir, _META_NAME)
    meta: Optional[dict] = None
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    num_classes = int(
        (meta or {}).get('args', {}).get(
            'num_classes', requested.get('num_classes', 4)))
    if meta is not None:
        stored = dict(meta.get('args', {}))
        for key, value in requested.items():
            if key == 'progress' or key not in stored:
                continue
            if key == 'image_size':
                value = [int(v) for v in value]
            if stored[key] != value:
                warnings.warn(
                    f'{out_dir} was generated with {key}={stored[key]!r}, '
                    f'not {value!r}; using it as is')
    paths = synthetic_scene_paths(out_dir, num_classes)
    if meta is not None and 'classes' in meta:
        paths['classes'] = meta['classes']
    return paths
