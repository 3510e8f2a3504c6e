"""Patch: mmcv's ``adjust_hue`` under numpy 2.

Upstream: mmcv 2.1.0 (with numpy >= 2).

``mmcv.adjust_hue`` adds ``np.uint8(hue_factor * 255)`` to the hue channel;
numpy 2 raises ``OverflowError`` for negative factors, so mmpretrain's
``ColorJitter(hue=...)`` crashes about half the time. The replacement does
the same modular shift of the uint8 hue channel with an explicit ``% 256``.

Delete when the pinned mmcv computes the shift without casting a negative
value to ``np.uint8`` (mmcv 2.1.0 does not), or numpy is pinned below 2.
"""
from __future__ import annotations

import cv2
import mmcv
import mmcv.image
import mmcv.image.photometric as photometric
import numpy as np
from PIL import Image

_original_adjust_hue = photometric.adjust_hue


def adjust_hue(img: np.ndarray, hue_factor: float, backend=None) -> np.ndarray:
    """Drop-in for ``mmcv.adjust_hue`` (BGR uint8 image, factor in
    ``[-0.5, 0.5]``)."""
    if backend is None:
        backend = photometric.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f'backend: {backend} is not supported.')
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 wraps around the hue circle
        pil_image = Image.merge(
            'HSV', (Image.fromarray(np_h, 'L'), s, v)).convert('RGB')
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    h = h.astype(np.uint8)
    h += shift
    return cv2.cvtColor(cv2.merge([h, s, v]),
                        cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def apply() -> None:
    """Install the fixes (idempotent)."""
    for module in (mmcv, mmcv.image, photometric):
        module.adjust_hue = adjust_hue
