"""Cosine-momentum EMA teacher, updated with one fused kernel and no host
sync."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmengine.model import BaseAveragedModel
from mmpretrain.registry import MODELS
from torch import Tensor


def _max_iters() -> float:
    """MessageHub's ``max_iters``; infinite (the start momentum) before a
    train loop set it, e.g. for the first-call copy at build time."""
    max_iters = MessageHub.get_current_instance().get_info('max_iters')
    return float('inf') if max_iters is None else float(max_iters)


@MODELS.register_module()
class FusedCosineEMA(BaseAveragedModel):
    r"""mmpretrain's :class:`CosineEMA` rule, without host-device syncs.

    At the ``t``-th call (``t = steps``, before the increment) every
    floating-point parameter moves towards the source model::

        m_t = end_momentum - (end_momentum - momentum)
              * (cos(pi * t / max_iters) + 1) / 2
        avg <- avg + m_t * (src - avg)          (torch.lerp)

    and the first call (``steps == 0``) copies the source (``m = 1``).
    ``max_iters`` comes from mmengine's MessageHub (a host number, as in
    CosineEMA; unset, the momentum stays at ``momentum``). Unlike
    CosineEMA, ``m_t`` and the ``steps == 0`` / ``interval`` tests are
    computed on the device from the ``steps`` buffer, and all parameters
    move in one ``torch._foreach_lerp_`` per
    dtype instead of a Python loop of ``mul_``/``add_`` pairs: no
    ``float(tensor)`` or ``bool(tensor)`` per update, so the GPU queue never
    drains. The state dict is CosineEMA's (``module.*`` and the ``steps``
    buffer), so checkpoints load in both directions and resume exactly.

    Args:
        model: The model to average (deep-copied, without gradients).
        momentum: Start momentum (0.004 for a teacher momentum of 0.996).
        end_momentum: Final momentum (0 for 1.0).
        interval: Update every ``interval`` calls.
        device: Where the copy lives (default: with the source).
    """

    def __init__(self,
                 model: nn.Module,
                 momentum: float = 0.004,
                 end_momentum: float = 0.,
                 interval: int = 1,
                 device: Optional[torch.device] = None) -> None:
        super().__init__(model, interval, device, update_buffers=False)
        if not 0.0 < momentum < 1.0:
            raise ValueError(f'momentum must be in (0, 1), got {momentum}')
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.momentum = float(momentum)
        self.end_momentum = float(end_momentum)

    def momentum_at(self, steps: Tensor, max_iters: float) -> Tensor:
        """``m`` for the update at ``steps`` (a 0-dim tensor), on its
        device, in float64: 1 at step 0, 0 off the interval."""
        cosine = (torch.cos(steps.double() * (math.pi / float(max_iters))) +
                  1) / 2
        m = self.end_momentum - (self.end_momentum - self.momentum) * cosine
        if self.interval > 1:
            m = torch.where(steps % self.interval == 0, m, m.new_zeros(()))
        return torch.where(steps == 0, m.new_ones(()), m)

    def avg_func(self, averaged_param: Tensor, source_param: Tensor,
                 steps: int) -> None:
        """One tensor's update (BaseAveragedModel's interface)."""
        m = self.momentum_at(torch.as_tensor(steps), _max_iters())
        averaged_param.lerp_(source_param, m.to(averaged_param.dtype))

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        max_iters = _max_iters()
        src = dict(model.named_parameters())
        by_dtype: Dict[torch.dtype, List[List[Tensor]]] = {}
        for key, avg in self.avg_parameters.items():
            if avg.dtype.is_floating_point:
                pair = by_dtype.setdefault(avg.dtype, [[], []])
                pair[0].append(avg.data)
                pair[1].append(src[key].data.to(avg.device))
        m = self.momentum_at(self.steps, max_iters)
        for dtype, (avgs, srcs) in by_dtype.items():
            torch._foreach_lerp_(avgs, srcs, m.to(dtype))
        buffers = [(b_avg, b_src) for b_avg, b_src in
                   zip(self.module.buffers(), model.buffers())]
        if buffers:  # the source's buffers, copied (update_buffers=False)
            torch._foreach_copy_([b for b, _ in buffers],
                                 [s.to(b.device) for b, s in buffers])
        self.steps += 1
