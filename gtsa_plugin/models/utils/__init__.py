from . import pretrained_init  # noqa: F401  (weight initializer registry)
from .crop_geometry import (box_area, box_intersection, rot90_per_sample,
                            rotate_boxes, to_crop_frame)
from .ema import FusedCosineEMA
from .multi_view import (check_loss_weights, check_momentum,
                         check_teacher_args, current_epoch, resolution_groups)
from .pos_embed import resize_pos_embed_offset

__all__ = ['FusedCosineEMA', 'box_area', 'box_intersection',
           'check_loss_weights', 'check_momentum', 'check_teacher_args',
           'current_epoch', 'resize_pos_embed_offset', 'resolution_groups',
           'rot90_per_sample', 'rotate_boxes', 'to_crop_frame']
