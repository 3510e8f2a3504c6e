"""Position-embedding resizing of facebookresearch/dino's ViT.

Two rules are in use for adapting a ViT's learned ``(1, E + h * w, C)``
position embedding (``E`` extra tokens, an ``h x w`` patch grid) to another
grid ``H x W``. Both bicubically interpolate the grid with
``align_corners=False`` and keep the extra tokens; they differ in how the
sampling grid is defined:

* **size rule** (mmpretrain ``resize_pos_embed``, also timm and mmseg):
  ``F.interpolate(grid, size=(H, W))``. Output pixel ``j`` samples the source
  at ``(j + 0.5) * h / H - 0.5``.
* **offset rule** (facebookresearch/dino ``VisionTransformer.
  interpolate_pos_encoding``, copied by the GTSA reference
  ``model_pretrain/gtsa.py``; the "+0.1" avoids a floating-point error in the
  output size, dino issue #8):
  ``F.interpolate(grid, scale_factor=((H + 0.1) / h, (W + 0.1) / w))``.
  PyTorch derives the output size as ``floor(h * (H + 0.1) / h) = H`` but
  keeps the given factor for the coordinates, so output pixel ``j`` samples
  the source at ``(j + 0.5) * h / (H + 0.1) - 0.5``: a slightly narrower
  grid than the size rule's.

For the 14 x 14 grid of a 224 px ViT/16 and a 96 px (6 x 6) local crop the
two differ by a few per cent of a cell, enough to change GTSA's losses by up
to ~4e-3 relative. The official GTSA and DINO checkpoints were trained with
the offset rule.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['resize_pos_embed_offset']


def resize_pos_embed_offset(pos_embed: Tensor,
                            src_shape: Sequence[int],
                            dst_shape: Sequence[int],
                            num_extra_tokens: int = 1,
                            offset: float = 0.1,
                            mode: str = 'bicubic') -> Tensor:
    """Resize a position embedding with facebookresearch/dino's offset rule.

    The patch part is laid out row-major, ``(1, h * w, C) -> (1, C, h, w)``
    (rows first, as the tokens of a ``(B, C, h, w)`` patch map flattened),
    interpolated with ``scale_factor=((H + offset) / h, (W + offset) / w)``,
    ``align_corners=False``, and flattened back; the extra tokens (class
    token) are passed through unchanged. The interpolation runs in float32
    and the result is cast back to the input dtype (float32 in practice,
    where this is exactly the reference's computation).

    Args:
        pos_embed: ``(1, E + h * w, C)``.
        src_shape: ``(h, w)``, the grid the embedding was learned on.
        dst_shape: ``(H, W)``, the token grid of the current input.
        num_extra_tokens: ``E``, tokens before the patch tokens.
        offset: Added to ``H`` and ``W`` in the scale factors (0.1 in the
            reference).
        mode: Interpolation mode (the reference: ``'bicubic'``).

    Returns:
        ``(1, E + H * W, C)``; ``pos_embed`` itself (the same tensor) when
        ``(H, W) == (h, w)``, as the reference returns its parameter
        unchanged for an unchanged grid.

    Raises:
        ValueError: ``pos_embed`` does not hold ``E + h * w`` tokens.
    """
    src_h, src_w = int(src_shape[0]), int(src_shape[1])
    dst_h, dst_w = int(dst_shape[0]), int(dst_shape[1])
    if (src_h, src_w) == (dst_h, dst_w):
        return pos_embed
    if pos_embed.dim() != 3 or \
            pos_embed.shape[1] != num_extra_tokens + src_h * src_w:
        raise ValueError(
            f'pos_embed of shape {tuple(pos_embed.shape)} does not hold '
            f'{num_extra_tokens} extra tokens and a {src_h}x{src_w} grid')
    channels = pos_embed.shape[2]
    extra = pos_embed[:, :num_extra_tokens]
    grid = pos_embed[:, num_extra_tokens:].reshape(
        1, src_h, src_w, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid.float(),
        scale_factor=((dst_h + offset) / src_h, (dst_w + offset) / src_w),
        mode=mode,
        align_corners=False)
    if tuple(grid.shape[-2:]) != (dst_h, dst_w):  # offset too large/small
        raise ValueError(
            f'offset {offset} resizes {src_h}x{src_w} to '
            f'{tuple(grid.shape[-2:])}, not {dst_h}x{dst_w}')
    grid = grid.permute(0, 2, 3, 1).reshape(1, dst_h * dst_w, channels)
    return torch.cat((extra, grid.to(pos_embed.dtype)), dim=1)
