"""Object outlines of the synthetic scenes and their rasterisation.

Pixel ``(x, y)`` covers ``[x, x + 1) x [y, y + 1)``; a polygon vertex at
``(x, y)`` is that pixel's top-left corner (pycocotools' convention).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np


def circle(n: int = 48, radius: float = 1., cx: float = 0.,
           cy: float = 0.) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + radius * np.cos(a), cy + radius * np.sin(a)], 1)


def shape_polygons(name: str, rng: np.random.Generator
                   ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Unit-radius outline of a class: (filled polygons, hole polygons).

    All vertices lie within distance 1 of the origin, so scaling by ``r``
    keeps the shape inside a circle of radius ``r``.
    """
    if name == 'disc':
        return [circle()], []
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
        c = circle()
        c[:, 1] *= rng.uniform(0.4, 0.6)
        return [c], []
    if name == 'cross':
        w = 0.3
        p = np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w],
                      [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w]])
        return [p / np.hypot(1, w)], []
    if name == 'ring':
        return [circle()], [circle(radius=0.5)]
    if name == 'crescent':
        return [circle()], [circle(radius=0.85, cx=0.45)]
    if name == 'hexagon':
        return [circle(6)], []
    if name == 'arrow':
        p = np.array([[-1, -0.22], [0.15, -0.22], [0.15, -0.6], [1, 0],
                      [0.15, 0.6], [0.15, 0.22], [-1, 0.22]])
        return [p / np.hypot(1, 0.22)], []
    raise ValueError(f'unknown shape {name!r}')


_SHIFT = 4  # sub-pixel bits for cv2.fillPoly


def fill(mask: np.ndarray, polys: Sequence[np.ndarray], value: int) -> None:
    # Pixel centres sit at integer coordinates in cv2's convention, at +0.5 in
    # ours; hence the -0.5.
    pts = [np.round((p - 0.5) * (1 << _SHIFT)).astype(np.int32) for p in polys]
    cv2.fillPoly(mask, pts, value, lineType=cv2.LINE_8, shift=_SHIFT)


def rasterise(cls_name: str, cx: float, cy: float, radius: float,
              theta: float, size_hw: Tuple[int, int],
              rng: np.random.Generator) -> np.ndarray:
    """Boolean (H, W) mask of one object placed at (cx, cy), rotated."""
    fills, holes = shape_polygons(cls_name, rng)
    rot = np.array([[np.cos(theta), -np.sin(theta)],
                    [np.sin(theta), np.cos(theta)]])

    def place(p: np.ndarray) -> np.ndarray:
        return p @ rot.T * radius + np.array([cx, cy])

    mask = np.zeros(size_hw, np.uint8)
    fill(mask, [place(p) for p in fills], 1)
    if holes:
        fill(mask, [place(p) for p in holes], 0)
    return mask.astype(bool)
