from . import pretrained_init  # noqa: F401  (weight initializer registry)
from .crop_geometry import (box_area, box_intersection, rot90_per_sample,
                            rotate_boxes, to_crop_frame)
from .ema import FusedCosineEMA

__all__ = ['FusedCosineEMA', 'box_area', 'box_intersection', 'rot90_per_sample',
           'rotate_boxes', 'to_crop_frame']
