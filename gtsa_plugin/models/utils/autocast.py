"""Losses in float32 under mixed precision."""
from __future__ import annotations

import functools
from typing import Callable

import torch


def autocast_off(fn: Callable) -> Callable:
    """Run ``fn`` with CUDA and CPU autocast disabled (whichever is on).

    Under ``AmpOptimWrapper(dtype='bfloat16')`` (or fp16) autocast would run
    a loss's matmuls in half precision even on float32 inputs: the
    patch-correspondence similarities (bf16 keeps 8 bits, too few to rank
    matches) and DINO's cross-entropy matmul. Decorated losses cast their
    inputs to float32 themselves and compute in float32; traceable by
    dynamo."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for device_type in ('cuda', 'cpu'):
            if torch.is_autocast_enabled(device_type):
                with torch.autocast(device_type, enabled=False):
                    return wrapper(*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper
