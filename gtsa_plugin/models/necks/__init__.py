from .dense_projector import DenseProjector
from .vit_multiscale_adapter import ViTMultiScaleAdapter

__all__ = ['DenseProjector', 'ViTMultiScaleAdapter']

from .dino_neck import DINONeck  # noqa: E402

__all__ += ['DINONeck']
