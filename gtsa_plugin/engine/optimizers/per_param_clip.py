"""Gradient clipping per parameter tensor, as DINO and GTSA do."""
from __future__ import annotations

from typing import Dict, List

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from .finite_guard import NonFiniteGradGuardMixin


class PerParamClipMixin:
    """Clip each parameter's gradient to L2 norm ``max_norm`` on its own.

    mmengine's ``clip_grad=dict(max_norm=...)`` clips the global norm of all
    gradients; the reference recipe instead scales every tensor whose own
    gradient norm exceeds ``max_norm`` (``coef = max_norm / (norm + 1e-6)``).
    Set ``clip_grad=dict(max_norm=3.0)`` as usual; the logged ``grad_norm``
    is the largest per-parameter norm before clipping. It stays a device
    tensor (``last_grad_norm``, no ``float()`` in the step): the algorithm
    returns it among its log values (:func:`grad_norm_log`) and mmengine's
    RuntimeInfoHook logs it as ``train/grad_norm`` after the step.
    """

    def _clip_grad(self) -> None:
        grads: List[torch.Tensor] = [
            p.grad for group in self.optimizer.param_groups
            for p in group['params'] if p.grad is not None
        ]
        if not grads:
            return
        max_norm = float(self.clip_grad_kwargs['max_norm'])
        # One fused norm kernel over all tensors instead of a loop of norms.
        norms = torch.stack(torch._foreach_norm(grads, 2.0))
        coefs = (max_norm / (norms.float() + 1e-6)).clamp(max=1.0)
        torch._foreach_mul_(grads, [c.to(g.dtype) for c, g in
                                    zip(coefs.unbind(), grads)])
        self.last_grad_norm = norms.max()
        # For the finite guard, which then needs no second pass.
        self._clip_norms = norms


def grad_norm_log(optim_wrapper) -> Dict[str, torch.Tensor]:
    """``{'grad_norm': norm}`` of the last clipping of ``optim_wrapper``
    (consumed: a step that did not clip logs nothing), else ``{}``."""
    norm = optim_wrapper.__dict__.pop('last_grad_norm', None)
    return {} if norm is None else dict(grad_norm=norm)


@OPTIM_WRAPPERS.register_module()
class PerParamClipOptimWrapper(NonFiniteGradGuardMixin, PerParamClipMixin,
                               OptimWrapper):
    """:class:`OptimWrapper` with per-parameter gradient clipping; a step
    with non-finite gradients is skipped on the device (see
    :mod:`.finite_guard`)."""


@OPTIM_WRAPPERS.register_module()
class PerParamClipAmpOptimWrapper(PerParamClipMixin, AmpOptimWrapper):
    """:class:`AmpOptimWrapper` (fp16) with per-parameter gradient clipping;
    gradients are unscaled before clipping, as mmengine does."""
