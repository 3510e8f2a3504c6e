"""Robust image loading for folders of arbitrary user images."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageOps


class UnreadableImageError(OSError):
    """An image file could not be decoded; ``path`` names it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'cannot read image {path}: {reason}')
        self.path = path
        self.reason = reason


def read_rgb(path: str) -> np.ndarray:
    """Decode any PIL-readable image to an ``(H, W, 3)`` uint8 RGB array.

    EXIF orientation is applied; grayscale, palette, RGBA (alpha dropped),
    CMYK and 16-bit images are converted. Raises
    :class:`UnreadableImageError` naming the file otherwise.
    """
    try:
        with Image.open(path) as img:
            img.load()  # truncated files fail here, not later
            img = ImageOps.exif_transpose(img)
            if img.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
                # 16/32-bit gray: rescale to 8 bits, keep contrast.
                arr = np.asarray(img, dtype=np.float64)
                peak = 65535.0 if arr.max() > 255 else 255.0
                img = Image.fromarray(
                    np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8))
            rgb = np.asarray(img.convert('RGB'))
    except UnreadableImageError:
        raise
    except Exception as err:  # PIL raises many types for bad files
        raise UnreadableImageError(path, f'{type(err).__name__}: {err}') from None
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
