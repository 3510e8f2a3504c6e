from .gtsa_multi_crop import GTSAMultiCrop
from .loading import LoadImageRGB
from .multi_crop import BaseMultiCrop

__all__ = ['BaseMultiCrop', 'GTSAMultiCrop', 'LoadImageRGB']

from .dino_multi_crop import DINOMultiCrop  # noqa: E402

__all__ += ['DINOMultiCrop']
