"""Helpers shared by the multi-view self-supervisors (GTSA and DINO).

Resolution grouping of the views, validation of the constructor arguments
they share (teacher momenta, epoch counts) and the current epoch as mmengine's
:class:`MessageHub` reports it.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from mmengine.logging import MessageHub
from torch import Tensor


def resolution_groups(inputs: Sequence[Tensor]) -> List[List[int]]:
    """Indices of consecutive views sharing a spatial size, e.g. 2 globals
    then 8 locals -> ``[[0, 1], [2, ..., 9]]``."""
    groups: List[List[int]] = []
    for i, view in enumerate(inputs):
        if groups and inputs[groups[-1][0]].shape[-2:] == view.shape[-2:]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def current_epoch() -> int:
    """The current epoch (0-based): MessageHub's ``'epoch'`` info, 0 when it
    is not set (e.g. outside a Runner)."""
    return int(MessageHub.get_current_instance().get_info('epoch', 0))


def check_loss_weights(loss_weights: dict, keys: Sequence[str],
                       prefix: str) -> Dict[str, float]:
    """``loss_weights`` as floats >= 0 for every key of ``keys`` (0 when
    missing); unknown keys, non-numbers and negative or NaN values raise,
    naming ``prefix.key``."""
    unknown = set(loss_weights) - set(keys)
    if unknown:
        raise KeyError(f'{prefix}: unknown keys {sorted(unknown)}; '
                       f'expected {list(keys)}')
    weights = {}
    for key in keys:
        value = loss_weights.get(key, 0.0)
        if isinstance(value, (str, bytes, bool)) or not isinstance(
                value, (int, float)):
            raise TypeError(f'{prefix}.{key} must be a number, got '
                            f'{value!r}')
        value = float(value)
        if not value >= 0:  # also rejects NaN
            raise ValueError(f'{prefix}.{key} must be >= 0, got {value}')
        weights[key] = value
    return weights


def check_momentum(value: float, key: str, open_interval: bool = False
                   ) -> float:
    """``value`` in [0, 1] (in (0, 1) with ``open_interval``: mmengine's EMA
    takes no momentum of exactly 0 or 1 to start from)."""
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = '(0, 1)' if open_interval else '[0, 1]'
        raise ValueError(f'{key} must be in {bounds}, got {value}')
    return float(value)


def check_teacher_args(base_momentum: float, end_momentum: float,
                       epoch_key: str, epochs: int
                       ) -> Tuple[float, float, int]:
    """Validate the constructor arguments GTSA and DINO share, naming the
    config key: ``model.base_momentum`` in (0, 1), ``model.end_momentum`` in
    [0, 1] and the epoch count ``model.<epoch_key>`` >= 0.

    Returns ``(base_momentum, end_momentum, epochs)`` as float, float, int.
    """
    base_momentum = check_momentum(
        base_momentum, 'model.base_momentum', open_interval=True)
    end_momentum = check_momentum(end_momentum, 'model.end_momentum')
    if epochs < 0:
        raise ValueError(f'model.{epoch_key} must be >= 0, got {epochs}')
    return base_momentum, end_momentum, int(epochs)
