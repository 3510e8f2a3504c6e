from .dino_vit import REFERENCE_VIT_INIT, DINOVisionTransformer

__all__ = ['DINOVisionTransformer', 'REFERENCE_VIT_INIT']
