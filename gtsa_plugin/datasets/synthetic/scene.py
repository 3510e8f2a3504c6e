"""One seeded synthetic scene: image, ADE labels and instance masks.

A scene is a textured background ("stuff": ground below a wavy horizon,
sky above, a few grey rocks) and several objects ("things") of ``K``
classes. A class is its shape and its texture (see
:data:`~.textures.OBJECT_TEXTURES`); an object's colour is random, the
same for every class. Objects overlap; later ones occlude earlier ones and
every instance mask is the part that is *visible* in the final image.

ADE labels cover every pixel: ``1..S`` = :data:`STUFF_CLASSES`,
``S+1..S+K`` = object classes; ``0`` is never written (it stays "ignore" as
in ADE20K, so mmseg's ``reduce_zero_label=True`` applies unchanged).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import cv2
import numpy as np

from .shapes import fill, rasterise
from .textures import (GROUND_TEXTURES, OBJECT_TEXTURES, paint, rgb,
                       smooth_noise, texture)

#: Object ("thing") class names; a dataset with ``K`` classes uses the first K.
SYNTHETIC_CLASSES: Tuple[str, ...] = ('disc', 'box', 'triangle', 'star',
                                      'ellipse', 'cross', 'ring', 'crescent',
                                      'hexagon', 'arrow')
#: Background ("stuff") class names, ADE labels 1..S in this order.
STUFF_CLASSES: Tuple[str, ...] = ('ground', 'sky', 'rock')

#: Instances less visible than this many pixels are not COCO instances
#: (their pixels keep their class in the ADE labels).
MIN_VISIBLE_AREA = 16


def synthetic_classes(num_classes: int = 4) -> Dict[str, List[str]]:
    """Class lists of a dataset with ``num_classes`` object classes.

    Returns ``{'coco': K names (category ids 1..K), 'ade': S + K names (ADE
    labels 1..S+K; label 0 is reserved), 'cls': K names (crop folders)}``.
    """
    check_num_classes(num_classes)
    things = list(SYNTHETIC_CLASSES[:num_classes])
    return {
        'coco': list(things),
        'ade': list(STUFF_CLASSES) + things,
        'cls': list(things)
    }


def check_num_classes(num_classes: int) -> None:
    if not 1 <= int(num_classes) <= len(SYNTHETIC_CLASSES):
        raise ValueError(f'num_classes must be in 1..{len(SYNTHETIC_CLASSES)}'
                         f', got {num_classes}')


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


def _background(rng: np.random.Generator, w: int,
                h: int) -> Tuple[np.ndarray, np.ndarray]:
    """Sky above a wavy horizon, ground below: (float image, labels)."""
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
    sky_top = rgb(rng.uniform(190, 235), rng.uniform(0.2, 0.45),
                  rng.uniform(0.6, 0.95))
    sky_low = rgb(rng.uniform(180, 230), rng.uniform(0.05, 0.2),
                  rng.uniform(0.85, 1.))
    ramp = np.clip(yy / max(float(horizon.max()), 1.), 0, 1)[..., None]
    sky = sky_top * (1 - ramp) + sky_low * ramp
    clouds = smooth_noise(rng, h, w, rng.uniform(3, 8))[..., None]
    cloud_amount = rng.uniform(0, 0.6)
    sky = sky * (1 - cloud_amount * clouds) + 245. * cloud_amount * clouds
    g_hue = rng.uniform(20, 110)
    g1 = rgb(g_hue, rng.uniform(0.15, 0.45), rng.uniform(0.35, 0.65))
    g2 = rgb(g_hue + rng.uniform(-15, 15), rng.uniform(0.1, 0.4),
             rng.uniform(0.2, 0.45))
    g_kind = GROUND_TEXTURES[rng.integers(len(GROUND_TEXTURES))]
    g_t = texture(g_kind, h, w, rng.uniform(0.04, 0.15) * max(w, h),
                  rng)[..., None] * rng.uniform(0.4, 1.)
    ground_rgb = g1 * (1 - g_t) + g2 * g_t
    image = np.where(ground[..., None], ground_rgb, sky).astype(np.float32)
    image += 3 * rng.standard_normal((h, w, 1), dtype=np.float32)
    labels = np.where(ground, STUFF_CLASSES.index('ground') + 1,
                      STUFF_CLASSES.index('sky') + 1).astype(np.uint8)
    return image, labels


def render_scene(index: int, seed: int = 0,
                 image_size: Tuple[int, int] = (256, 192),
                 num_classes: int = 4) -> dict:
    """Render scene ``index`` of the dataset with ``seed``.

    Returns a dict with ``image`` (H, W, 3) uint8 RGB, ``semantic`` (H, W)
    uint8 ADE labels (every pixel labelled, see the module docstring) and
    ``instances``: a list, in drawing order, of dicts ``category`` (0-based
    class index), ``mask`` (bool (H, W), visible part), ``drawn_area``
    (pixels the object covered before occlusion) and ``hue`` (degrees, the
    object's random colour). Instances with fewer than
    :data:`MIN_VISIBLE_AREA` visible pixels are left out of the list.

    Layout: the last ``f = min(K, 4)`` objects are "featured": drawn on top,
    in disjoint cells of a random grid, with classes ``(index * f + j) % K``,
    so consecutive scenes cycle through the classes and every featured object
    is fully visible. 1-4 "filler" objects of random classes, sizes and
    positions are drawn first, behind them and over each other.
    """
    check_num_classes(num_classes)
    w, h = (int(s) for s in image_size)
    rng = _scene_rng(seed, index)
    n_stuff = len(STUFF_CLASSES)
    image, semantic = _background(rng, w, h)

    short = min(w, h)
    # Rocks (stuff): irregular low-saturation blobs with a noise texture.
    rock_label = STUFF_CLASSES.index('rock') + 1
    for _ in range(int(rng.integers(0, 3))):
        k = int(rng.integers(7, 12))
        a = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.04, 0.12) * short * rng.uniform(0.6, 1., k)
        c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        blob = np.zeros((h, w), np.uint8)
        fill(blob, [c + np.stack([r * np.cos(a), r * np.sin(a)], 1)], 1)
        blob = blob.astype(bool)
        tone = rng.uniform(0.25, 0.8)
        paint(image, blob, rgb(rng.uniform(0, 360), 0.08, tone),
              rgb(rng.uniform(0, 360), 0.08, tone * 0.7), 'noise',
              rng.uniform(4, 12), rng)
        semantic[blob] = rock_label

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
    drawn_area, hues = [], []
    for k, (c, cx, cy, r) in enumerate(specs):
        mask = rasterise(SYNTHETIC_CLASSES[c], cx, cy, r,
                         rng.uniform(0, 2 * np.pi), (h, w), rng)
        hue = rng.uniform(0, 360)  # independent of the class
        c1 = rgb(hue, rng.uniform(0.65, 1.), rng.uniform(0.7, 1.))
        c2 = rgb(hue + rng.uniform(-10, 10), rng.uniform(0.5, 0.9),
                 rng.uniform(0.3, 0.55))
        paint(image, mask, c1, c2, OBJECT_TEXTURES[c],
              max(4., r * rng.uniform(0.25, 0.4)), rng)
        owner[mask] = k
        drawn_area.append(cv2.countNonZero(mask.view(np.uint8)))
        hues.append(float(hue))

    instances = []
    for k, (c, _, _, _) in enumerate(specs):
        visible = owner == k
        semantic[visible] = n_stuff + 1 + c
        if cv2.countNonZero(visible.view(np.uint8)) >= MIN_VISIBLE_AREA:
            instances.append(
                dict(category=c, mask=visible, drawn_area=drawn_area[k],
                     hue=hues[k]))
    return dict(
        image=np.clip(np.rint(image, out=image), 0, 255, out=image).astype(
            np.uint8),
        semantic=semantic,
        instances=instances)
