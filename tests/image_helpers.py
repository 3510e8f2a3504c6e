"""Images of the reliability tests: tiny data folders, synthetic scenes
and files a user's folder may hold that are bad or need care."""
from __future__ import annotations

import io
import os
import os.path as osp
import shutil
from typing import Dict

import numpy as np
from PIL import Image

#: Files a user's folder may hold that cannot be decoded.
UNREADABLE = ('truncated.jpg', 'corrupt.jpg', 'zero_bytes.jpg',
              'not_an_image.png')
#: Files that decode, in modes/shapes that need care.
READABLE = ('gray.png', 'rgba.png', 'palette.png', 'gray16.png', 'cmyk.jpg',
            'exif_rotated.jpg', 'small.png', 'tall_20x2000.png',
            'wide_2000x20.jpg')


def tiny_folder(src: str, dst: str, num: int) -> str:
    """Copy the first ``num`` images of ``src`` into ``dst``."""
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src))[:num]:
        shutil.copy(osp.join(src, name), osp.join(dst, name))
    return dst


def scene(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """An RGB uint8 test picture with structure (crops differ)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                    (xx + yy) % 256], -1).astype(np.uint8)
    img[rng.integers(0, h, 50), rng.integers(0, w, 50)] = 255
    return img


def _jpeg_bytes(img: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='JPEG', quality=90, **kwargs)
    return buf.getvalue()


def write_bad_images(folder: str) -> Dict[str, str]:
    """Write every kind of awkward file of the issue into ``folder``;
    returns name -> path. Names in :data:`UNREADABLE` cannot be decoded,
    those in :data:`READABLE` can."""
    os.makedirs(folder, exist_ok=True)
    paths = {name: osp.join(folder, name) for name in UNREADABLE + READABLE}
    good = _jpeg_bytes(scene(64, 80, 1))

    with open(paths['truncated.jpg'], 'wb') as f:
        f.write(good[:len(good) * 6 // 10])
    with open(paths['corrupt.jpg'], 'wb') as f:
        f.write(good[:2] + bytes(np.random.default_rng(0).integers(
            0, 256, 2000, dtype=np.uint8)))
    open(paths['zero_bytes.jpg'], 'wb').close()
    with open(paths['not_an_image.png'], 'w') as f:
        f.write('this is a text file with an image extension\n')

    rgb = scene(48, 64, 2)
    Image.fromarray(rgb).convert('L').save(paths['gray.png'])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, 'RGBA').save(paths['rgba.png'])
    Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE,
                                 colors=16).save(paths['palette.png'])
    gray16 = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21
              ).astype(np.uint16)
    gray16[0, 0] = 65535
    Image.fromarray(gray16).save(paths['gray16.png'])
    Image.fromarray(rgb).convert('CMYK').save(
        paths['cmyk.jpg'], format='JPEG', quality=95)
    # Stored 64 wide x 48 high, EXIF orientation 6: shown rotated 90 deg
    # clockwise, i.e. 48 wide x 64 high, the stored top-left at top-right.
    marked = rgb.copy()
    marked[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(marked).save(paths['exif_rotated.jpg'], format='JPEG',
                                 quality=95, exif=exif.tobytes())
    Image.fromarray(scene(10, 12, 3)).save(paths['small.png'])
    Image.fromarray(scene(2000, 20, 4)).save(paths['tall_20x2000.png'])
    with open(paths['wide_2000x20.jpg'], 'wb') as f:
        f.write(_jpeg_bytes(scene(20, 2000, 5)))
    return paths
