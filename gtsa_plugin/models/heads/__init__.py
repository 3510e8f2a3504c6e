from .gtsa_head import GTSAHead
from .rotation_head import RotationHead

__all__ = ['GTSAHead', 'RotationHead']

from .dino_head import DINOHead  # noqa: E402

__all__ += ['DINOHead']
