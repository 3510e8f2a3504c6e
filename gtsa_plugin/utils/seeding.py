"""Seeds derived from (seed, epoch, sample) so that runs replay exactly.

mmengine seeds ``random``, ``numpy`` and ``torch`` once, when the Runner is
built, and does not save their states in checkpoints. A resumed run
therefore draws different augmentations (and drop-path masks) than the
uninterrupted run would have. Deriving every random stream from fixed keys
instead of from "whatever happened before" makes the streams independent of
history: of resuming, of the number of dataloader workers and of whether
they are persistent.
"""
from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np
import torch
from mmengine.runner import set_random_seed

__all__ = ['derive_seed', 'seed_everything', 'seeded_rng']


def derive_seed(*keys: int) -> int:
    """A well-mixed seed in ``[0, 2**31)`` from non-negative integer keys.

    ``SeedSequence`` hashes the keys, so neighbouring keys (epoch 3 and 4,
    sample 10 and 11) give unrelated streams, unlike ``seed + epoch``.
    """
    entropy = [int(k) for k in keys]
    if any(k < 0 for k in entropy):
        raise ValueError(f'seed keys must be >= 0, got {entropy}')
    state = np.random.SeedSequence(entropy).generate_state(1, np.uint32)
    return int(state[0]) & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and all
    CUDA devices), through mmengine's :func:`set_random_seed`."""
    set_random_seed(seed)


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run the body with ``random``/numpy/torch-CPU seeded by ``seed``, then
    restore the previous states.

    Restoring matters in the main process (``num_workers=0``): the data
    pipeline then neither consumes nor perturbs the streams the model uses
    (drop path), so both are reproducible on their own.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    seed_everything_cpu(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)


def seed_everything_cpu(seed: int) -> None:
    """Like :func:`seed_everything` without touching CUDA generators (data
    transforms run on the CPU; seeding CUDA would initialise it in forked
    dataloader workers)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.random.default_generator.manual_seed(seed)
