"""``torch.compile`` for the self-supervised algorithms, through mmengine's
``compile`` config key."""
from __future__ import annotations

from typing import Callable, Dict, Union

import numpy as np
import torch
import torch.nn as nn


def plain_scalars(module: nn.Module) -> int:
    """Turn numpy scalar attributes of ``module``'s submodules into Python
    numbers (same values); returns how many. mmpretrain's ViT stores its
    drop-path rates as numpy floats (``np.linspace``), and mmcv's
    ``drop_path`` tests ``if drop_prob == 0.``: dynamo treats the numpy
    value as an array and breaks the graph at every layer."""
    changed = 0
    for sub in module.modules():
        for key, value in list(vars(sub).items()):
            if isinstance(value, np.generic):
                setattr(sub, key, value.item())
                changed += 1
    return changed


class CompiledPartsMixin:
    """Compile an algorithm's tensor code, keep the training loop eager.

    mmengine's ``cfg.compile = True`` (or a dict of ``torch.compile``
    options) makes the Runner do ``model.train_step =
    torch.compile(model.train_step)``. Traced whole, a self-supervised step
    reaches state dynamo cannot follow (DataSamples, the optimiser wrapper
    and its hooks, MessageHub) and the teacher's EMA; compiling the backbone
    module instead renames its parameters (``_orig_mod.``), which breaks the
    teacher's parameter matching and the checkpoint layout.

    So :meth:`train_step` tells dynamo, when it traces it, to run the step
    eagerly (:meth:`_train_step_with_parts`, ``torch.compiler.disable``) and
    switches :attr:`compile_parts` on: the algorithm then calls the pure
    tensor functions it names through :meth:`part` (per resolution group
    the student forward, the teacher forward, the losses), each compiled as
    a plain function with ``dynamic=False``: one graph per crop size, the
    parameters keep their names. Optimiser, clipping, EMA and hooks stay
    eager. With ``compile_parts`` off (the default) nothing changes.

    ``compile_parts``: False, True (``torch.compile`` defaults), or a dict
    of ``torch.compile`` keyword arguments; can also be set directly, e.g.
    by ``tools/benchmark.py --compile``.
    """

    compile_parts: Union[bool, dict] = False

    def part(self, name: str) -> Callable:
        """The method ``name``, compiled when :attr:`compile_parts` is on."""
        fn = getattr(self, name)
        if not self.compile_parts:
            return fn
        cache: Dict[str, Callable] = self.__dict__.setdefault(
            '_compiled_parts', {})
        if name not in cache:
            if not cache:
                plain_scalars(self)
            options = dict(dynamic=False)
            if isinstance(self.compile_parts, dict):
                options.update(self.compile_parts)
            cache[name] = torch.compile(fn, **options)
        return cache[name]

    def train_step(self, data, optim_wrapper, **kwargs):
        if torch.compiler.is_compiling():
            # Traced by the Runner's torch.compile(model.train_step).
            return self._train_step_with_parts(data, optim_wrapper, **kwargs)
        return self.eager_train_step(data, optim_wrapper, **kwargs)

    @torch.compiler.disable
    def _train_step_with_parts(self, data, optim_wrapper, **kwargs):
        if not self.compile_parts:
            self.compile_parts = True
        return self.eager_train_step(data, optim_wrapper, **kwargs)

    def eager_train_step(self, data, optim_wrapper, **kwargs):
        raise NotImplementedError
