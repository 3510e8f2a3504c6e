"""RoIAlign as two small matmuls per box: same values as torchvision's."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def _axis_weights(start: Tensor, length: Tensor, out: int, size: int
                  ) -> Tensor:
    """``(K, out, size)``: per box and output bin, the average over the
    bin's sample points of their 1-D bilinear weights on the ``size`` cells
    of one axis (torchvision's sampling and border rules)."""
    max_grid = max(1, math.ceil(size / out))
    bin_size = length / out  # (K,)
    grid = torch.ceil(length / out).clamp(0, max_grid)  # samples per bin
    p = torch.arange(out, device=start.device, dtype=start.dtype)
    i = torch.arange(max_grid, device=start.device, dtype=start.dtype)
    # (K, out, max_grid) sample coordinates
    coord = (start[:, None, None] + p[None, :, None] * bin_size[:, None, None]
             + (i[None, None, :] + 0.5) * bin_size[:, None, None] /
             grid.clamp(min=1)[:, None, None])
    valid = (i[None, None, :] < grid[:, None, None]) & \
        (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0)
    low = coord.floor().clamp(max=size - 1)
    at_end = low >= size - 1
    coord = torch.where(at_end, low, coord)
    frac = coord - low
    high = torch.where(at_end, low, low + 1)
    weights = valid.to(coord.dtype) / grid.clamp(min=1)[:, None, None]
    cells = torch.arange(size, device=start.device, dtype=start.dtype)
    w = ((cells == low[..., None]) * ((1 - frac) * weights)[..., None] +
         (cells == high[..., None]) * (frac * weights)[..., None])
    return w.sum(2)


def separable_roi_align(maps: Tensor, rows: Tensor, boxes: Tensor,
                        output_size: int) -> Tensor:
    """``torchvision.ops.roi_align(maps, [rows, boxes], output_size,
    spatial_scale=1, sampling_ratio=-1, aligned=True)`` for square outputs.

    Bilinear RoIAlign is separable: a bin's value is
    ``A_y[bin_y] @ map @ A_x[bin_x]^T`` with per-box interpolation
    matrices ``A`` (output bins x cells, the average of the bilinear
    weights of the bin's sample points, torchvision's adaptive sample
    count ``ceil(box side / output_size)`` and border rules). Computed as
    two batched matmuls, its backward is two more, instead of torchvision's
    per-sample scalar loops on the CPU; no custom op, so dynamo and
    inductor trace through it. The sample count is capped at
    ``ceil(map side / output_size)``, which any box inside the map
    respects.

    Args:
        maps: ``(N, C, H, W)``.
        rows: ``(K,)`` long, the map row of each box.
        boxes: ``(K, 4)`` ``(x1, y1, x2, y2)`` in cells.
        output_size: Output side ``o``.

    Returns:
        ``(K, C, o, o)``.
    """
    _, _, height, width = maps.shape
    boxes = boxes.to(maps.dtype) - 0.5  # aligned=True
    x1, y1, x2, y2 = boxes.unbind(1)
    a_y = _axis_weights(y1, y2 - y1, output_size, height)  # (K, o, H)
    a_x = _axis_weights(x1, x2 - x1, output_size, width)  # (K, o, W)
    picked = maps.index_select(0, rows)  # (K, C, H, W)
    return torch.einsum('koh,kchw,kpw->kcop', a_y, picked, a_x)
