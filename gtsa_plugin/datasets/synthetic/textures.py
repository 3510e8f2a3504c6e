"""Pattern and colour primitives of the synthetic scenes.

Patterns are float32 ``(h, w)`` arrays in ``[0, 1]`` that blend two colours;
colours are float32 RGB triples in ``[0, 255]``. All randomness comes from
the ``numpy.random.Generator`` passed in.

Object classes differ by shape **and** by one of :data:`OBJECT_TEXTURES`
(each used by one class only), never by colour: an object's hue is drawn
uniformly, whatever its class, so colour jitter and grayscale can neither
give a class away nor hide it.
"""
from __future__ import annotations

import colorsys

import cv2
import numpy as np

#: Object textures, one per class in ``SYNTHETIC_CLASSES`` order.
OBJECT_TEXTURES = ('dots', 'stripes', 'checker', 'hatch', 'rings', 'zigzag',
                   'speckle', 'waves', 'grid', 'gradient')
#: Ground textures: low-frequency, unlike every object texture.
GROUND_TEXTURES = ('noise', 'gradient')


def rgb(hue: float, sat: float, val: float) -> np.ndarray:
    """HSV (hue in degrees, sat/val in [0, 1]) to an RGB float32 triple."""
    r, g, b = colorsys.hsv_to_rgb((hue / 360.) % 1., float(np.clip(sat, 0, 1)),
                                  float(np.clip(val, 0, 1)))
    return np.array([r, g, b], np.float32) * 255.


def smooth_noise(rng: np.random.Generator, h: int, w: int,
                 cells: float) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid, upsampled."""
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), 0,
                   1)


def texture(kind: str, h: int, w: int, period: float,
            rng: np.random.Generator) -> np.ndarray:
    """A (h, w) float32 pattern of ``kind`` with spatial ``period`` px."""
    theta = rng.uniform(0, np.pi)
    off_u, off_v = rng.uniform(0, period, 2)
    if kind == 'noise':
        return smooth_noise(rng, h, w, max(h, w) / period)
    if kind == 'speckle':  # fine grain, no orientation
        return (rng.random((h, w), dtype=np.float32) < 0.35).astype(
            np.float32)
    # Rotated coordinates, built by broadcasting a column and a row.
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u = (xx * cos + off_u) + yy * sin
    v = (yy * cos + off_v) - xx * sin
    p = np.float32(period)
    if kind == 'stripes':
        return (np.sin(2 * np.pi * u / p) > 0).astype(np.float32)
    if kind == 'checker':
        return ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
    if kind == 'gradient':
        return (u - u.min()) / max(float(u.max() - u.min()), 1.)
    if kind == 'dots':
        du, dv = u % p - p / 2, v % p - p / 2
        return (du * du + dv * dv < (0.3 * p)**2).astype(np.float32)
    if kind == 'hatch':  # thin lines in two directions, 60 degrees apart
        v60 = u * np.float32(0.5) + v * np.float32(0.866)
        return (((u % p) < 0.22 * p) | ((v60 % p) < 0.22 * p)).astype(
            np.float32)
    if kind == 'rings':  # concentric circles around a random centre
        r = np.sqrt((xx - rng.uniform(0, w))**2 + (yy - rng.uniform(0, h))**2)
        return (np.sin(2 * np.pi * r / p) > 0).astype(np.float32)
    if kind == 'zigzag':
        tri = np.abs((v / p) % 2 - 1) * p  # triangle wave along v
        return (np.sin(2 * np.pi * (u + tri) / p) > 0).astype(np.float32)
    if kind == 'waves':  # smooth sinusoidal grey levels, two directions
        return (0.5 + 0.25 * np.sin(2 * np.pi * u / p) +
                0.25 * np.sin(2 * np.pi * v / (1.7 * p))).astype(np.float32)
    if kind == 'grid':  # thin axis-aligned lines of the rotated frame
        return (((u % p) < 0.18 * p) & ((v % p) < 0.18 * p) |
                ((u % p) < 0.1 * p) | ((v % p) < 0.1 * p)).astype(np.float32)
    raise ValueError(f'unknown texture {kind!r}')


def paint(image: np.ndarray, mask: np.ndarray, c1: np.ndarray,
          c2: np.ndarray, kind: str, period: float,
          rng: np.random.Generator, noise: float = 5.) -> None:
    """Fill ``image[mask]`` with a texture blending colours c1 and c2."""
    x0, y0, bw, bh = cv2.boundingRect(mask.view(np.uint8))
    if bw == 0:
        return
    y1, x1 = y0 + bh, x0 + bw
    t = texture(kind, bh, bw, period, rng)[..., None]
    patch = c1 * (1 - t) + c2 * t
    patch += noise * rng.standard_normal(t.shape, dtype=np.float32)
    m = mask[y0:y1, x0:x1]
    image[y0:y1, x0:x1][m] = patch[m]
