"""Batched crop geometry for GTSA, on the device.

Conventions (matching :class:`~gtsa_plugin.datasets.transforms.GTSAMultiCrop`):

* Original-image boxes are ``(x1, y1, x2, y2)`` pixels, x right, y down.
* A crop with original box ``b`` is resized to a square of side ``S``; an
  original point ``(x, y)`` lands at ``((x - b.x1) * S / b.w,
  (y - b.y1) * S / b.h)`` in the resized crop (continuous coordinates, pixel
  ``i`` covering ``[i, i + 1)``).
* The resized crop is then rotated counter-clockwise by ``k x 90`` degrees
  (``torch.rot90(x, k, dims=(-2, -1))``); one quarter turn maps
  ``(x, y) -> (y, S - x)``.
* Feature maps of stride ``s`` cover the crop with cells ``[j*s, (j+1)*s)``.
  :class:`~gtsa_plugin.models.heads.GTSAHead` divides the crop-frame boxes
  by ``s`` itself, so they are in feature-cell units, and calls torchvision's
  ``roi_align`` with ``spatial_scale=1.0, aligned=True`` (cell ``j`` covering
  ``[j, j + 1)``, its centre at ``j + 0.5``).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor


def box_intersection(a: Tensor, b: Tensor) -> Tensor:
    """Intersection of boxes ``a`` and ``b`` (broadcast, ``(..., 4)``).

    Empty intersections come back with ``x2 < x1`` or ``y2 < y1``; see
    :func:`box_area`, which clamps them to zero area."""
    return torch.cat([torch.maximum(a[..., :2], b[..., :2]),
                      torch.minimum(a[..., 2:], b[..., 2:])], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def to_crop_frame(boxes: Tensor, crop_boxes: Tensor, size: Tensor) -> Tensor:
    """Map original-image ``boxes`` into the resized frame of crops whose
    original boxes are ``crop_boxes`` and whose output side is ``size``.

    All arguments broadcast: ``(..., 4)``, ``(..., 4)``, ``(...)``."""
    origin = crop_boxes[..., :2]
    scale = size.unsqueeze(-1) / (crop_boxes[..., 2:] - origin)
    return ((boxes.unflatten(-1, (2, 2)) - origin.unsqueeze(-2)) *
            scale.unsqueeze(-2)).flatten(-2)


def rotate_boxes(boxes: Tensor, k: Tensor, size: Tensor) -> Tensor:
    """Rotate boxes in a square frame of side ``size`` counter-clockwise by
    ``k x 90`` degrees, as the image itself was rotated.

    Args:
        boxes: ``(..., 4)`` boxes in the unrotated frame.
        k: ``(...)`` integer quarter turns (any integer; taken mod 4).
        size: ``(...)`` frame side.
    """
    k = torch.remainder(k, 4).unsqueeze(-1)
    size = size.unsqueeze(-1).to(boxes.dtype)
    x1, y1, x2, y2 = boxes.unbind(-1)
    x1, y1, x2, y2 = (v.unsqueeze(-1) for v in (x1, y1, x2, y2))
    # Each quarter turn maps (x, y) -> (y, S - x); the corners swap roles.
    rot1 = torch.cat([y1, size - x2, y2, size - x1], -1)
    rot2 = torch.cat([size - x2, size - y2, size - x1, size - y1], -1)
    rot3 = torch.cat([size - y2, x1, size - y1, x2], -1)
    out = torch.where(k == 1, rot1, boxes)
    out = torch.where(k == 2, rot2, out)
    return torch.where(k == 3, rot3, out)


@lru_cache(maxsize=32)
def _rot90_index(height: int, width: int, device: torch.device) -> Tensor:
    """``(4, H*W)`` gather indices: entry ``k`` rotates a flattened ``HxW``
    grid by ``k`` quarter turns counter-clockwise (square grids only for
    odd ``k``)."""
    grid = torch.arange(height * width, device=device).view(height, width)
    return torch.stack(
        [torch.rot90(grid, k, dims=(0, 1)).reshape(-1) for k in range(4)])


def rot90_per_sample(x: Tensor, k: Tensor) -> Tensor:
    """``torch.rot90(x[i], k[i], dims=(-2, -1))`` for every ``i`` at once.

    Args:
        x: ``(N, C, H, W)`` maps with ``H == W``.
        k: ``(N,)`` integer quarter turns (taken mod 4).

    Returns:
        ``(N, C, H, W)``, exact (a permutation of cells, no interpolation).
    """
    n, c, h, w = x.shape
    if h != w:
        raise ValueError(f'rot90_per_sample needs square maps, got {h}x{w}')
    index = _rot90_index(h, w, x.device)[torch.remainder(k, 4)]
    index = index.unsqueeze(1).expand(n, c, h * w)
    return x.flatten(2).gather(2, index).view(n, c, h, w)
