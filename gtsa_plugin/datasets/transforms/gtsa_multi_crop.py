"""GTSA's multi-crop transform: overlapping crops, each rotated by k x 90."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmpretrain.registry import TRANSFORMS

from .multi_crop import BaseMultiCrop, Box, check_number


@TRANSFORMS.register_module()
class GTSAMultiCrop(BaseMultiCrop):
    """Global and local crops that overlap, rotated by random multiples of 90.

    Per image: ``num_crops[0]`` global crops then the other groups (locals).
    Every crop after the first must overlap EACH global crop sampled before
    it by more than ``min_overlap`` of the image area
    (``global_overlap_factor`` times that between two globals); it is
    resampled until it does. Each crop then goes through its group's
    photometric pipeline and is rotated
    counter-clockwise by ``k x 90`` degrees, ``k`` uniform in {0, 1, 2, 3}
    (``np.rot90(img, k)`` on HWC == ``torch.rot90(x, k, dims=(-2, -1))`` on
    CHW == torchvision ``rotate(img, 90 * k)``). No flips.

    Writes into ``results``:

    - ``img``: list of ``sum(num_crops)`` HWC uint8 arrays, globals first.
    - ``crop_boxes``: float tensor ``(num_crops, 4)``, each crop's
      ``(x1, y1, x2, y2)`` in the ORIGINAL image's pixels, before resizing
      and rotation.
    - ``crop_rotations``: long tensor ``(num_crops,)`` holding ``k``.

    The model derives intersections and their position in every crop's
    resized, rotated frame from these two tensors (see
    :mod:`gtsa_plugin.models.utils.crop_geometry`).

    Args:
        min_overlap: Minimum intersection with each earlier global crop, as a
            fraction of the image area (strictly exceeded).
        global_overlap_factor: Multiplier of ``min_overlap`` between globals.
        rotate: Draw random rotations (``False`` keeps ``k = 0``).
        max_attempts: Resampling budget per crop. When exhausted (only on
            degenerate images) the crop is re-centred on the earlier globals'
            common area, the closest we can get to the constraint.
        **kwargs: See :class:`BaseMultiCrop`.
    """

    def __init__(self,
                 crop_sizes: Sequence[int] = (224, 96),
                 num_crops: Sequence[int] = (2, 8),
                 scales: Sequence[Sequence[float]] = ((0.3, 1.0), (0.1, 0.3)),
                 min_overlap: float = 0.01,
                 global_overlap_factor: float = 2.0,
                 rotate: bool = True,
                 max_attempts: int = 100,
                 **kwargs) -> None:
        super().__init__(crop_sizes=crop_sizes, num_crops=num_crops,
                         scales=scales, **kwargs)
        min_overlap = check_number(min_overlap, 'min_overlap')
        global_overlap_factor = check_number(global_overlap_factor,
                                             'global_overlap_factor')
        if not 0 <= min_overlap < 1:
            raise ValueError(
                f'min_overlap must be in [0, 1), got {min_overlap}')
        if global_overlap_factor <= 0:
            raise ValueError('global_overlap_factor must be positive, got '
                             f'{global_overlap_factor}')
        # An intersection can never exceed the smaller crop's area.
        global_max = self.scales[0][1]
        if self.num_crops[0] > 1 and \
                min_overlap * global_overlap_factor >= global_max:
            raise ValueError(
                f'min_overlap={min_overlap} x global_overlap_factor='
                f'{global_overlap_factor} cannot be met by global crops of at '
                f'most {global_max} of the image (scales[0])')
        for g, (_, hi) in enumerate(self.scales[1:], start=1):
            if min_overlap >= hi:
                raise ValueError(
                    f'min_overlap={min_overlap} cannot be met by crops of at '
                    f'most {hi} of the image (scales[{g}])')
        self.min_overlap = float(min_overlap)
        self.global_overlap_factor = float(global_overlap_factor)
        self.rotate = rotate
        self.max_attempts = int(max_attempts)

    def _overlaps(self, box: np.ndarray, globals_: np.ndarray,
                  need: float) -> bool:
        if len(globals_) == 0:
            return True
        lt = np.maximum(box[:2], globals_[:, :2])
        rb = np.minimum(box[2:], globals_[:, 2:])
        inter = np.clip(rb - lt, 0, None).prod(axis=1)
        return bool(np.all(inter > need))

    def _recentre(self, box: Box, globals_: np.ndarray, height: int,
                  width: int) -> Box:
        lt = globals_[:, :2].max(axis=0)
        rb = globals_[:, 2:].min(axis=0)
        cx, cy = (lt + rb) / 2
        w, h = box[2] - box[0], box[3] - box[1]
        x1 = int(np.clip(round(cx - w / 2), 0, width - w))
        y1 = int(np.clip(round(cy - h / 2), 0, height - h))
        return (x1, y1, x1 + w, y1 + h)

    def sample_boxes(self, height: int, width: int) -> np.ndarray:
        """All crop boxes of one image, ``(num_crops, 4)`` int64."""
        n_global = self.num_crops[0]
        area = float(height * width)
        boxes = np.zeros((self.total_crops, 4), dtype=np.int64)
        for i, group in enumerate(self.crop_groups()):
            earlier_globals = boxes[:min(i, n_global)]
            need = area * self.min_overlap
            if i < n_global:
                need *= self.global_overlap_factor
            box = self.sample_box(height, width, group)
            for _ in range(self.max_attempts):
                if self._overlaps(np.asarray(box), earlier_globals, need):
                    break
                box = self.sample_box(height, width, group)
            else:
                box = self._recentre(box, earlier_globals, height, width)
            boxes[i] = box
        return boxes

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        boxes = self.sample_boxes(height, width)
        if self.rotate:
            rotations = np.random.randint(0, 4, size=self.total_crops)
        else:
            rotations = np.zeros(self.total_crops, dtype=np.int64)
        crops = []
        for box, group, k in zip(boxes, self.crop_groups(), rotations):
            crop = self.crop_resize(img, tuple(box), self.crop_sizes[group])
            crop = self.apply_pipeline(crop, group, results)
            crops.append(np.ascontiguousarray(np.rot90(crop, int(k))))
        results['img'] = crops
        results['img_shape'] = [c.shape[:2] for c in crops]
        results['crop_boxes'] = torch.from_numpy(boxes).float()
        results['crop_rotations'] = torch.from_numpy(rotations).long()
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', min_overlap={self.min_overlap}, rotate={self.rotate})')
