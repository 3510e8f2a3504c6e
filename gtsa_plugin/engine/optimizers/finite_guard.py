"""Never step non-finite gradients into the weights, without a host sync.

A loss can be finite while its gradient is not (``lr=1e6``: the loss of
the blown-up weights is still a number, its backward overflows). Stepped,
that gradient writes NaN into the weights and the optimiser state, and the
next checkpoint is poisoned. :class:`NonFiniteGradGuardMixin` instead:

1. computes on the device whether every gradient is finite: from the
   per-tensor norms the per-parameter clipping already computed (a tensor
   with an inf or NaN entry has a non-finite norm), or, without clipping,
   one fused norm over all gradients;
2. makes the optimiser step a no-op on the device when one is not: fused
   optimisers (``AdamW(fused=True)``, as the configs use) take the flag as
   ``found_inf``, exactly as under a ``GradScaler``, and leave weights,
   moments and step count untouched; other optimisers cannot skip on the
   device, so the flag is read on the host first (one sync per step);
3. counts skipped steps on the device. :class:`NonFiniteLossHook` reads the
   count where it reads the losses anyway and stops training, naming the
   iteration (:meth:`NonFiniteGradGuardMixin.pop_nonfinite_steps`).

Only for full-precision wrappers: under AMP a non-finite gradient is the
loss scaler's business (it skips the step and lowers the scale).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch


def _grads(optimizer) -> List[torch.Tensor]:
    return [p.grad for group in optimizer.param_groups
            for p in group['params'] if p.grad is not None]


def grads_finite(grads: List[torch.Tensor]) -> torch.Tensor:
    """0-dim bool tensor on the gradients' device: all entries finite."""
    norms = torch.stack([n.float() for n in torch._foreach_norm(grads, 2.0)])
    return torch.isfinite(norms).all()


def skips_on_device(optimizer) -> bool:
    """Whether ``optimizer.step`` honours ``found_inf`` (fused kernels)."""
    return bool(getattr(optimizer, '_step_supports_amp_scaling', False)) \
        and bool(optimizer.defaults.get('fused'))


class NonFiniteGradGuardMixin:
    """Put before an ``OptimWrapper`` subclass in the bases (see the module
    text)."""

    def step(self, **kwargs) -> None:
        if self.clip_grad_kwargs:
            self._clip_grad()
        grads = _grads(self.optimizer)
        if not grads:
            self.optimizer.step(**kwargs)
            return
        # After clipping, reuse its per-tensor norms rather than read every
        # gradient again: a tensor with an inf or NaN entry has a non-finite
        # norm (and clipping leaves it non-finite).
        norms = self.__dict__.pop('_clip_norms', None)
        finite = (torch.isfinite(norms).all() if norms is not None
                  else grads_finite(grads))
        self._count_step(finite)
        if skips_on_device(self.optimizer):
            self.optimizer.found_inf = (~finite).float()
            try:
                self.optimizer.step(**kwargs)
            finally:
                del self.optimizer.found_inf
        elif bool(finite):  # host sync: this optimiser cannot skip on device
            self.optimizer.step(**kwargs)

    def _count_step(self, finite: torch.Tensor) -> None:
        # Device-side: number of skipped steps and the index (1-based, in
        # steps since the last pop) of the first one; -1 when none.
        self._guard_steps = getattr(self, '_guard_steps', 0) + 1
        bad = (~finite).long()
        if getattr(self, '_guard_bad', None) is None:
            self._guard_bad = torch.zeros((), dtype=torch.long,
                                          device=finite.device)
            self._guard_first = torch.full((), -1, dtype=torch.long,
                                           device=finite.device)
        first_now = (self._guard_first < 0) & (bad > 0)
        self._guard_first = torch.where(
            first_now, torch.full_like(self._guard_first, self._guard_steps),
            self._guard_first)
        self._guard_bad += bad

    def pop_nonfinite_steps(self) -> Optional[Tuple[int, int, int]]:
        """``(skipped, first, steps)`` since the last call: steps skipped for
        non-finite gradients, the index of the first among the ``steps``
        taken; ``None`` if all were finite. Reads the device (one sync)."""
        if getattr(self, '_guard_bad', None) is None:
            return None
        bad, first = torch.stack([self._guard_bad,
                                  self._guard_first]).tolist()
        steps = self._guard_steps
        self._guard_bad.zero_()
        self._guard_first.fill_(-1)
        self._guard_steps = 0
        return (bad, first, steps) if bad else None
