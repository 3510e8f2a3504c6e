"""Multi-crop sampling shared by the GTSA and DINO transforms.

Coordinate convention: pixels of the ORIGINAL image (after EXIF orientation),
x to the right, y down, boxes as ``(x1, y1, x2, y2)`` with ``x2 = x1 + w``
(exclusive corner), exactly the region that ``img[y1:y2, x1:x2]`` crops.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose

Box = Tuple[int, int, int, int]


def is_number(value) -> bool:
    """A real number given as a number (``'0.01'`` and ``True`` are not)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def check_number(value, name: str) -> float:
    """``value`` as float; a ``TypeError`` naming ``name`` if it is not a
    number (strings are refused, not parsed)."""
    if not is_number(value):
        raise TypeError(f'{name} must be a number, got {value!r} '
                        f'({type(value).__name__})')
    return float(value)


def int_list(value, name: str) -> List[int]:
    """One integer per crop group, e.g. ``(2, 8)``; a ``TypeError`` naming
    ``name`` for a bare number (``10``) or a string (``'28'`` is not
    ``[2, 8]``)."""
    if isinstance(value, (str, bytes)) or not isinstance(
            value, (list, tuple)):
        raise TypeError(
            f'{name} must be a list with one integer per crop group, e.g. '
            f'(2, 8), got {value!r} ({type(value).__name__})')
    for item in value:
        if not is_number(item) or float(item) != int(item):
            raise TypeError(f'{name} must hold integers, got {value!r}')
    return [int(v) for v in value]


def _as_pairs(value, name: str, n: int) -> List[Tuple[float, float]]:
    if isinstance(value, (str, bytes)) or not isinstance(
            value, (list, tuple)) or not all(
                isinstance(v, (list, tuple)) for v in value):
        raise TypeError(f'{name} must be a list of (min, max) pairs, got '
                        f'{value!r}')
    pairs = [tuple(check_number(x, name) for x in v) for v in value]
    if len(pairs) != n or any(len(p) != 2 for p in pairs):
        raise ValueError(
            f'{name} must hold one (min, max) pair per crop group ({n} '
            f'groups, as num_crops), got {value!r}')
    return pairs


class BaseMultiCrop(BaseTransform):
    """Sample ``sum(num_crops)`` random resized crops of one image.

    Groups are ordered as given (globals first by convention). Each crop is
    cut from the original image with torchvision's ``RandomResizedCrop``
    sampling rule, resized to ``crop_sizes[g]`` squared, then passed through
    the group's photometric ``pipelines[g]`` (mmcv/mmpretrain transforms that
    read and write ``results['img']``, an HWC uint8 BGR array).

    Args:
        crop_sizes: Output side of each group's square crops, in pixels.
        num_crops: Number of crops of each group.
        scales: ``(min, max)`` fraction of the image area of each group.
        ratio: Aspect-ratio range of the sampled boxes (before resizing).
        pipelines: One list of transform configs per group (or one list for
            all groups), applied to each crop of the group.
        size_divisor: Every crop size must be a multiple of it (the
            backbone's patch size), so that feature maps tile the crop.
        interpolation: Resize interpolation (``mmcv.imresize``).
        backend: Resize backend, ``'pillow'`` (antialiased, as torchvision on
            PIL images) or ``'cv2'``.
    """

    def __init__(self,
                 crop_sizes: Sequence[int],
                 num_crops: Sequence[int],
                 scales: Sequence[Sequence[float]],
                 ratio: Sequence[float] = (3. / 4., 4. / 3.),
                 pipelines: Optional[Sequence] = None,
                 size_divisor: int = 1,
                 interpolation: str = 'bilinear',
                 backend: str = 'pillow') -> None:
        self.crop_sizes = int_list(crop_sizes, 'crop_sizes')
        self.num_crops = int_list(num_crops, 'num_crops')
        groups = len(self.num_crops)
        if groups == 0 or len(self.crop_sizes) != groups:
            raise ValueError(
                f'crop_sizes {list(crop_sizes)} and num_crops '
                f'{list(num_crops)} must have one entry per crop group')
        if any(n <= 0 for n in self.num_crops):
            raise ValueError(
                f'num_crops must all be positive, got {list(num_crops)}')
        if any(s <= 0 for s in self.crop_sizes):
            raise ValueError(
                f'crop_sizes must all be positive, got {list(crop_sizes)}')
        if size_divisor <= 0 or any(s % size_divisor for s in self.crop_sizes):
            raise ValueError(
                f'crop_sizes {self.crop_sizes} must be multiples of '
                f'size_divisor={size_divisor} (the patch size)')
        self.scales = _as_pairs(scales, 'scales', groups)
        for lo, hi in self.scales:
            if not 0 < lo <= hi <= 1:
                raise ValueError('scales must satisfy 0 < min <= max <= 1, '
                                 f'got {list(scales)}')
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f'ratio must satisfy 0 < min <= max, got {ratio}')
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.size_divisor = size_divisor
        self.interpolation = interpolation
        self.backend = backend

        if pipelines is None:
            pipelines = [[] for _ in range(groups)]
        elif len(pipelines) == 0 or isinstance(pipelines[0], dict):
            pipelines = [pipelines] * groups  # one list shared by all groups
        if len(pipelines) != groups:
            raise ValueError(
                f'pipelines must be one list of transforms per crop group '
                f'({groups}), got {len(pipelines)}')
        self.pipelines = [Compose(list(p)) for p in pipelines]

    @property
    def total_crops(self) -> int:
        return sum(self.num_crops)

    def crop_groups(self) -> List[int]:
        """Group index of every crop, globals first."""
        return [g for g, n in enumerate(self.num_crops) for _ in range(n)]

    def sample_box(self, height: int, width: int, group: int) -> Box:
        """torchvision's RandomResizedCrop rule on an ``height x width``
        image: 10 tries at an area in ``scales[group]`` and a log-uniform
        aspect ratio, else a centre crop with the ratio clamped."""
        area = height * width
        lo, hi = self.scales[group]
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * np.random.uniform(lo, hi)
            aspect = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                y1 = np.random.randint(0, height - h + 1)
                x1 = np.random.randint(0, width - w + 1)
                return (x1, y1, x1 + w, y1 + h)
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        h, w = max(1, min(h, height)), max(1, min(w, width))
        x1, y1 = (width - w) // 2, (height - h) // 2
        return (x1, y1, x1 + w, y1 + h)

    def crop_resize(self, img: np.ndarray, box: Box, size: int) -> np.ndarray:
        x1, y1, x2, y2 = box
        patch = img[y1:y2, x1:x2]
        return mmcv.imresize(
            patch, (size, size),
            interpolation=self.interpolation,
            backend=self.backend)

    def apply_pipeline(self, crop: np.ndarray, group: int,
                       results: dict) -> np.ndarray:
        out = self.pipelines[group](dict(img=crop, img_shape=crop.shape[:2]))
        return out['img']

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_sizes={self.crop_sizes}, '
                f'num_crops={self.num_crops}, scales={self.scales}, '
                f'ratio={self.ratio})')
