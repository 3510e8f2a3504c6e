"""Optimizer constructor that passes over frozen submodules quietly."""
from __future__ import annotations

from typing import List

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FrozenModuleOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` that skips a submodule whose
    parameters are all frozen (an EMA teacher, say) with one log line,
    instead of one warning per tensor. Everything else is unchanged."""

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', is_dcn_module=None) -> None:
        tensors = list(module.parameters())
        if prefix and tensors and not any(p.requires_grad for p in tensors):
            print_log(f'{prefix}: {len(tensors)} frozen parameter tensors '
                      'are not optimised', logger='current')
            return
        super().add_params(params, module, prefix, is_dcn_module)
