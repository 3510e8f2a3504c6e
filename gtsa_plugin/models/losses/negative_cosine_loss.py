"""Negative cosine similarity between aligned feature maps."""
from __future__ import annotations

from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class NegativeCosineLoss(nn.Module):
    """``-cos(pred, target)`` over channels, averaged over positions, then
    over samples (weighted).

    Args:
        reduction: ``'mean'`` gives the weighted mean over samples; ``'sum'``
            the weighted sum (callers combining several calls divide by the
            total weight themselves).

    Shapes:
        pred, target: ``(K, C, *positions)``; weight: ``(K,)`` or None.
        Returns a scalar. Computed in float32 whatever the input dtype.
    """

    def __init__(self, reduction: str = 'mean') -> None:
        super().__init__()
        if reduction not in ('mean', 'sum'):
            raise ValueError(
                f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        cos = F.cosine_similarity(
            pred.float(), target.float(), dim=1, eps=1e-8)
        per_sample = -cos.flatten(1).mean(1)
        if weight is None:
            return per_sample.mean() if self.reduction == 'mean' \
                else per_sample.sum()
        weight = weight.to(per_sample.dtype)
        total = (per_sample * weight).sum()
        if self.reduction == 'sum':
            return total
        return total / weight.sum().clamp(min=1e-12)
