"""Robust image loading for folders of arbitrary user images."""
from __future__ import annotations

from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageOps


class UnreadableImageError(OSError):
    """An image file could not be decoded; ``path`` names it.

    Also constructible from one string, the full message: that is how
    PyTorch's DataLoader re-raises a worker's exception in the main process,
    so the type (and the file name in the message) survive ``num_workers >
    0``.
    """

    def __init__(self, path: str, reason: Optional[str] = None) -> None:
        if reason is None:  # re-raised from a dataloader worker
            super().__init__(path)
            self.path, self.reason = None, path
            return
        super().__init__(f'cannot read image {path}: {reason}')
        self.path = path
        self.reason = reason


def _to_uint8_gray(img: Image.Image) -> Image.Image:
    """High bit-depth single-channel modes to 8-bit ``L``, keeping the
    intensity scale (PIL's own ``convert`` would clip at 255)."""
    arr = np.asarray(img)
    if img.mode.startswith('I;16'):
        arr8 = arr.astype(np.float64) / 257.0  # exact 0..65535 -> 0..255
    elif img.mode == 'F':
        peak = 1.0 if np.nanmax(arr, initial=0.0) <= 1.0 else 255.0
        arr8 = np.nan_to_num(arr.astype(np.float64)) / peak * 255.0
    else:  # 'I' (32-bit): 16-bit data when it exceeds 8 bits
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr8 = arr.astype(np.float64) / peak * 255.0
    return Image.fromarray(np.clip(np.rint(arr8), 0, 255).astype(np.uint8))


def read_rgb(path: str) -> np.ndarray:
    """Decode any PIL-readable image to an ``(H, W, 3)`` uint8 RGB array.

    EXIF orientation is applied; grayscale, palette, RGBA (alpha dropped),
    CMYK and 16-bit images are converted. Raises
    :class:`UnreadableImageError` naming the file otherwise (zero-byte,
    truncated, corrupt or non-image files).
    """
    try:
        with Image.open(path) as img:
            img.load()  # truncated files fail here, not later
            img = ImageOps.exif_transpose(img)
            if img.mode in ('I', 'F') or img.mode.startswith('I;16'):
                img = _to_uint8_gray(img)
            rgb = np.asarray(img.convert('RGB'))
    except UnreadableImageError:
        raise
    except Exception as err:  # PIL raises many types for bad files
        raise UnreadableImageError(
            path, f'{type(err).__name__}: {err}') from None
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise UnreadableImageError(path, f'empty image of shape {rgb.shape}')
    return rgb


@TRANSFORMS.register_module()
class LoadImageRGB(BaseTransform):
    """Load ``results['img_path']`` as an HWC uint8 array, BGR channel order
    (mmcv's convention, so mmcv/mmpretrain colour transforms apply and the
    data preprocessor's ``to_rgb=True`` restores RGB).

    Unlike mmcv's ``LoadImageFromFile`` it handles any PIL mode, applies EXIF
    orientation, and raises :class:`UnreadableImageError` (naming the file)
    for undecodable files, which :class:`UnlabeledImageFolder` turns into a
    skip or, with ``strict=True``, an error.
    """

    def transform(self, results: dict) -> dict:
        img = read_rgb(results['img_path'])[..., ::-1]
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
