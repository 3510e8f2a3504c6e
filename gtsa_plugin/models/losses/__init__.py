from .negative_cosine_loss import NegativeCosineLoss
from .patch_correspondence_loss import PatchCorrespondenceLoss

__all__ = ['NegativeCosineLoss', 'PatchCorrespondenceLoss']
