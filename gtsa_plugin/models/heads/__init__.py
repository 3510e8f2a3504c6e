from .gtsa_head import GTSAHead
from .rotation_head import RotationHead

__all__ = ['GTSAHead', 'RotationHead']
