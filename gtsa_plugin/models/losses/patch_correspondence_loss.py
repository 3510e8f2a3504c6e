"""GTSA's patch-correspondence loss between student and teacher maps."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class PatchCorrespondenceLoss(nn.Module):
    """Pull every well-matched cell to its most similar cell in the other map.

    For a (student map, teacher map) pair: each student cell finds the
    teacher cell of highest cosine similarity; the ``m`` student cells with
    the best matches are kept and ``-cos`` to their matches is averaged. The
    same is done from teacher cells to student cells, and the two directions
    are averaged. ``m = num_matches[0]`` when the student map has more than
    ``cells_threshold`` cells (global crops), else ``num_matches[1]``, and is
    capped by the map sizes. The selection is not differentiated.

    All pairs of one resolution group are scored with a single batched
    matmul; pairs the caller does not want (a teacher view paired with
    itself, or crops that do not intersect) are masked by ``weight``.

    Args:
        num_matches: Matches kept for (large, small) student maps.
        cells_threshold: A student map with more cells than this is "large".

    Shapes:
        student: ``(B, V, Ns, C)`` (V student views), teacher:
        ``(B, T, Nt, C)`` (T teacher views), weight: ``(B, V, T)`` or None.
        ``forward`` returns the weighted sum over pairs (a scalar) when
        ``reduction='sum'``, else the weighted mean.
    """

    def __init__(self,
                 num_matches: Sequence[int] = (98, 18),
                 cells_threshold: int = 100,
                 reduction: str = 'mean') -> None:
        super().__init__()
        if len(num_matches) != 2 or min(num_matches) <= 0:
            raise ValueError(
                f'num_matches must be two positive ints, got {num_matches}')
        self.num_matches = tuple(int(m) for m in num_matches)
        self.cells_threshold = int(cells_threshold)
        if reduction not in ('mean', 'sum'):
            raise ValueError(
                f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def pair_losses(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Loss of every (student view, teacher view) pair: ``(B, V, T)``."""
        b, v, ns, c = student.shape
        t, nt = teacher.shape[1], teacher.shape[2]
        m = self.num_matches[0] if ns > self.cells_threshold \
            else self.num_matches[1]
        s = F.normalize(student.float(), dim=-1).reshape(b, v * ns, c)
        k = F.normalize(teacher.float(), dim=-1).reshape(b, t * nt, c)
        sim = torch.bmm(s, k.transpose(1, 2)).view(b, v, ns, t, nt)
        # The best matches as max(dim).values, not amax: the same values,
        # and the same gradient (to the maximum) unless a maximum is tied,
        # where amax would split it among the ties; but max's backward is
        # one scatter, amax's several passes over the whole `sim`.
        # student -> teacher: best teacher cell per student cell
        s2t = sim.max(dim=4).values.transpose(2, 3)  # (B, V, T, Ns)
        s2t = s2t.topk(min(m, ns), dim=-1).values.mean(-1)
        # teacher -> student: best student cell per teacher cell
        t2s = sim.max(dim=2).values  # (B, V, T, Nt)
        t2s = t2s.topk(min(m, nt), dim=-1).values.mean(-1)
        return -0.5 * (s2t + t2s)

    def forward(self,
                student: Tensor,
                teacher: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        losses = self.pair_losses(student, teacher)
        if weight is None:
            weight = torch.ones_like(losses)
        total = (losses * weight.to(losses.dtype)).sum()
        if self.reduction == 'sum':
            return total
        return total / weight.sum().clamp(min=1e-12)
