"""Helpers of the picture tools (``tools/visualization/*.py``).

Pure numpy/torch/PIL functions, importable without matplotlib:

* :func:`vit_tokens_and_attention`: the last block's patch tokens and CLS
  attention of an mmpretrain ``VisionTransformer``;
* :func:`pca_rgb`: patch features -> RGB by a per-image 3-component PCA;
* :func:`colorize`, :func:`resize_nearest`, :func:`tile_panels`: turn maps
  into fixed-size PNG panels.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

__all__ = [
    'pca_rgb', 'vit_tokens_and_attention', 'colorize', 'resize_nearest',
    'tile_panels', 'tiled_size', 'PANEL_GAP', 'CAPTION_HEIGHT'
]

#: White pixels between panels of :func:`tile_panels`.
PANEL_GAP = 4
#: Height of the caption strip above every panel.
CAPTION_HEIGHT = 16


def pca_rgb(features: np.ndarray | Tensor,
            rel_eps: float = 1e-4) -> np.ndarray:
    """Project features onto their first three principal components and
    scale each to ``[0, 1]`` (min-max): one RGB colour per feature vector.

    Args:
        features: ``(N, C)`` feature vectors (e.g. the patch tokens of one
            image).
        rel_eps: A component whose range is below ``rel_eps`` times the
            mean feature norm is treated as constant and drawn at 0.5 (mid
            grey), instead of min-max stretching float rounding noise into
            full-range colours. So identical features give a constant image.

    Returns:
        ``(N, 3)`` float64 in ``[0, 1]``. Component signs are fixed (the
        largest-magnitude loading is positive) so reruns give the same
        colours.
    """
    x = torch.as_tensor(features).detach().double().cpu().numpy()
    if x.ndim != 2:
        raise ValueError(f'features must be (N, C), got shape {x.shape}')
    out = np.full((x.shape[0], 3), 0.5)
    if x.shape[0] < 2:
        return out
    scale = float(np.linalg.norm(x, axis=1).mean()) or 1.0
    centered = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    for c in range(min(3, vt.shape[0])):
        axis = vt[c] * np.sign(vt[c][np.argmax(np.abs(vt[c]))] or 1.0)
        proj = centered @ axis
        lo, hi = proj.min(), proj.max()
        if hi - lo > rel_eps * scale:
            out[:, c] = (proj - lo) / (hi - lo)
    return out


@contextlib.contextmanager
def _temporarily(obj: object, **attrs) -> Iterator[None]:
    old = {k: getattr(obj, k) for k in attrs}
    for k, v in attrs.items():
        setattr(obj, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(obj, k, v)


def _check_vit(backbone: nn.Module) -> None:
    needed = ('layers', 'patch_embed', 'num_extra_tokens', 'out_type',
              'out_indices')
    missing = [a for a in needed if not hasattr(backbone, a)]
    if missing:
        raise TypeError(
            f'{type(backbone).__name__} is not an mmpretrain '
            f'VisionTransformer (lacks {missing}); the feature pictures '
            'need one')


@torch.no_grad()
def vit_tokens_and_attention(backbone: nn.Module, images: Tensor
                             ) -> Tuple[Tensor, Optional[Tensor]]:
    """Patch tokens and last-block CLS attention of a ViT.

    Runs mmpretrain's ``VisionTransformer`` once with ``out_type='raw'`` on
    its last block (both restored afterwards), so the tokens are exactly
    what ``out_type='featmap'`` returns (after the final norm when
    ``final_norm=True``), whatever ``out_type``/``out_indices`` the config
    uses. The attention is recomputed by a forward hook on
    ``layers[-1].attn`` from its input, as mmpretrain's
    ``MultiheadAttention`` does: ``softmax(q k^T / sqrt(head_dim))`` with
    ``q, k`` from the fused ``qkv`` projection. (Its ``qk_scale`` argument
    is ignored by mmpretrain 1.2, which always uses ``head_dim ** -0.5``;
    so do we.)

    Args:
        backbone: An mmpretrain ``VisionTransformer`` in eval mode.
        images: ``(B, 3, H, W)`` normalised images, ``H`` and ``W``
            multiples of the patch size.

    Returns:
        ``(tokens, attention)``: tokens ``(B, h, w, C)``; attention ``(B,
        heads, h, w)``, the CLS token's row over the patch tokens, or
        ``None`` without a CLS token.
    """
    _check_vit(backbone)
    grid: List[Tuple[int, int]] = []
    attn_rows: List[Tensor] = []
    extra = int(backbone.num_extra_tokens)
    attn = backbone.layers[-1].attn

    def grab_grid(module, inputs, output):
        grid.append(tuple(int(v) for v in output[1]))

    def grab_attention(module, inputs, output):
        x = inputs[0]
        b, n, _ = x.shape
        heads = module.num_heads
        qkv = module.qkv(x).reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)
        q, k = qkv[0], qkv[1]
        weights = (q @ k.transpose(-2, -1)) * q.shape[-1]**-0.5
        attn_rows.append(weights.softmax(dim=-1)[:, :, 0, extra:])

    handles = [backbone.patch_embed.register_forward_hook(grab_grid)]
    if extra > 0 and getattr(backbone, 'cls_token', None) is not None:
        handles.append(attn.register_forward_hook(grab_attention))
    try:
        with _temporarily(backbone, out_type='raw',
                          out_indices=[len(backbone.layers) - 1]):
            tokens = backbone(images)[-1]
    finally:
        for h in handles:
            h.remove()
    h, w = grid[-1]
    patches = tokens[:, extra:]
    b, n, c = patches.shape
    if n != h * w:
        raise RuntimeError(f'{n} patch tokens for a {h}x{w} grid')
    attention = attn_rows[-1].reshape(b, -1, h, w) if attn_rows else None
    return patches.reshape(b, h, w, c), attention


def colorize(values: np.ndarray, cmap: str = 'viridis',
             rel_eps: float = 1e-6) -> np.ndarray:
    """Min-max scale a 2-D map and colour it: ``(h, w)`` -> ``(h, w, 3)``
    uint8. A constant map becomes the colormap's middle colour."""
    from matplotlib import colormaps  # lazy: only the tools need it
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo > rel_eps * max(abs(hi), abs(lo), 1e-12):
        v = (v - lo) / (hi - lo)
    else:
        v = np.full_like(v, 0.5)
    return (colormaps[cmap](v)[..., :3] * 255).round().astype(np.uint8)


def resize_nearest(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize an ``(h, w[, 3])`` map to ``size = (H, W)`` by nearest
    neighbour (each patch becomes a flat block). Floats in ``[0, 1]`` are
    converted to uint8."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    height, width = size
    return np.asarray(
        Image.fromarray(arr).resize((width, height), Image.NEAREST))


def tiled_size(rows: int, cols: int, height: int,
               width: int) -> Tuple[int, int]:
    """``(H, W)`` of :func:`tile_panels`' output for ``rows x cols`` panels
    of ``height x width``."""
    return (rows * (height + CAPTION_HEIGHT) + (rows - 1) * PANEL_GAP,
            cols * width + (cols - 1) * PANEL_GAP)


def tile_panels(panels: Sequence[Sequence[np.ndarray]],
                captions: Optional[Sequence[Sequence[str]]] = None
                ) -> np.ndarray:
    """Lay equally sized ``(H, W, 3)`` uint8 panels out in a grid, a caption
    strip above each, :data:`PANEL_GAP` white pixels between them.

    Returns:
        ``(H_total, W_total, 3)`` uint8, see :func:`tiled_size`.
    """
    rows, cols = len(panels), max(len(r) for r in panels)
    height, width = panels[0][0].shape[:2]
    total_h, total_w = tiled_size(rows, cols, height, width)
    canvas = Image.new('RGB', (total_w, total_h), 'white')
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for r, row in enumerate(panels):
        for c, panel in enumerate(row):
            if panel.shape[:2] != (height, width):
                raise ValueError(f'panel ({r}, {c}) is {panel.shape[:2]}, '
                                 f'expected {(height, width)}')
            x = c * (width + PANEL_GAP)
            y = r * (height + CAPTION_HEIGHT + PANEL_GAP)
            canvas.paste(Image.fromarray(panel), (x, y + CAPTION_HEIGHT))
            if captions is not None and c < len(captions[r]):
                draw.text((x + 2, y + 2), captions[r][c], fill='black',
                          font=font)
    return np.asarray(canvas)
