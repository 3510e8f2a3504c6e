"""DINO's multi-crop transform: independent global and local crops."""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import Compose
from mmpretrain.registry import TRANSFORMS

from .multi_crop import BaseMultiCrop


@TRANSFORMS.register_module()
class DINOMultiCrop(BaseMultiCrop):
    """Independent random resized crops with per-crop photometric pipelines.

    Per image: ``num_crops[0]`` global crops then the other groups (locals),
    each sampled independently with torchvision's ``RandomResizedCrop`` rule
    (no overlap constraint, no rotation), resized (bicubic, as the
    reference) and passed through a photometric pipeline. Flips are part of
    the pipelines (mmcv ``RandomFlip``), so each crop is flipped on its own.

    DINO treats its two global crops differently (blur always on the first;
    rarely blurred but sometimes solarised on the second), so besides one
    pipeline per group, ``view_pipelines`` may give crop ``i`` its own
    pipeline: entry ``i`` (if not ``None``) replaces the group pipeline of
    crop ``i`` (crops numbered globals first). Crops without an entry use
    their group's pipeline.

    Writes into ``results``:

    - ``img``: list of ``sum(num_crops)`` HWC uint8 arrays, globals first.
    - ``crop_boxes``: float tensor ``(num_crops, 4)``, each crop's
      ``(x1, y1, x2, y2)`` in the original image's pixels (for inspection;
      the DINO model does not need it).

    Args:
        crop_sizes: Output side of each group's crops (224 and 96).
        num_crops: Crops per group (2 globals, 8 locals).
        scales: Area fraction range per group ((0.4, 1) and (0.05, 0.4)).
        view_pipelines: Optional per-crop pipeline overrides, a list of at
            most ``sum(num_crops)`` entries, each a list of transform configs
            or ``None``.
        interpolation: Resize interpolation (``'bicubic'`` as the reference).
        **kwargs: See :class:`BaseMultiCrop` (``pipelines``, ``ratio``,
            ``size_divisor``, ``backend``).
    """

    def __init__(self,
                 crop_sizes: Sequence[int] = (224, 96),
                 num_crops: Sequence[int] = (2, 8),
                 scales: Sequence[Sequence[float]] = ((0.4, 1.0),
                                                      (0.05, 0.4)),
                 view_pipelines: Optional[Sequence[Optional[Sequence]]] = None,
                 interpolation: str = 'bicubic',
                 **kwargs) -> None:
        super().__init__(
            crop_sizes=crop_sizes,
            num_crops=num_crops,
            scales=scales,
            interpolation=interpolation,
            **kwargs)
        view_pipelines = list(view_pipelines or [])
        if len(view_pipelines) > self.total_crops:
            raise ValueError(
                f'view_pipelines has {len(view_pipelines)} entries for '
                f'{self.total_crops} crops (sum of num_crops)')
        for i, pipeline in enumerate(view_pipelines):
            if pipeline is not None and (isinstance(pipeline, dict) or any(
                    not isinstance(t, dict) for t in pipeline)):
                raise TypeError(
                    f'view_pipelines[{i}] must be None or a list of transform '
                    f'configs, got {pipeline!r}')
        self.view_pipelines: List[Optional[Compose]] = [
            None if p is None else Compose(list(p)) for p in view_pipelines
        ]

    def crop_pipeline(self, index: int, group: int) -> Compose:
        """The photometric pipeline of crop ``index`` (in group ``group``)."""
        if index < len(self.view_pipelines) and \
                self.view_pipelines[index] is not None:
            return self.view_pipelines[index]
        return self.pipelines[group]

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        crops, boxes = [], []
        for index, group in enumerate(self.crop_groups()):
            box = self.sample_box(height, width, group)
            crop = self.crop_resize(img, box, self.crop_sizes[group])
            out = self.crop_pipeline(index, group)(
                dict(img=crop, img_shape=crop.shape[:2]))
            crops.append(np.ascontiguousarray(out['img']))
            boxes.append(box)
        results['img'] = crops
        results['img_shape'] = [c.shape[:2] for c in crops]
        results['crop_boxes'] = torch.tensor(boxes, dtype=torch.float32)
        return results

    def __repr__(self) -> str:
        overrides = [i for i, p in enumerate(self.view_pipelines)
                     if p is not None]
        return (super().__repr__()[:-1] +
                f', view_pipelines for crops {overrides})')
