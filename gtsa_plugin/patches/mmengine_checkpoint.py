"""Patch: mmengine's checkpoint loading (safe) and saving (atomic).

Upstream: mmengine 0.10.7 (with torch >= 2.6).

* Loading: mmengine calls ``torch.load`` without ``weights_only``; since
  torch 2.6 that means ``weights_only=True`` and mmengine's own checkpoints
  (message hub ``HistoryBuffer``, numpy values) no longer load. We
  allow-list exactly those types (:func:`gtsa_plugin.utils.checkpoint.
  safe_globals`) and route mmengine's local loader (resume, ``load_from``,
  ``init_cfg``) through :func:`gtsa_plugin.utils.checkpoint.safe_load`.
* Saving: mmengine streams a checkpoint into its final path, overwrites
  ``last_checkpoint`` in place and deletes old checkpoints before writing
  the new one, so a killed save can lose them all. Its ``save_checkpoint``
  is replaced by :func:`gtsa_plugin.utils.atomic_save.
  atomic_save_checkpoint` in every mmengine module that imported it, and
  ``type='CheckpointHook'`` builds
  :class:`gtsa_plugin.engine.hooks.AtomicCheckpointHook`.

Delete when mmengine loads its own checkpoints with ``weights_only=True``
(allow-list) and writes checkpoints and ``last_checkpoint`` atomically,
deleting outdated ones after the new one is complete (not the case up to
0.10.7).
"""
from __future__ import annotations

import os
import sys
from typing import Any

import torch
import torch.serialization
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import CheckpointLoader

from ..engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook
from ..utils import atomic_save
from ..utils.atomic_save import atomic_save_checkpoint
from ..utils.checkpoint import safe_globals, safe_load

__all__ = [
    'apply', 'install_safe_checkpoint_loading',
    'install_atomic_checkpoint_saving'
]


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    filename = os.path.expanduser(filename)
    return safe_load(filename, map_location=map_location)


_LOADING_INSTALLED = False


def install_safe_checkpoint_loading() -> None:
    """Allow-list mmengine's checkpoint contents and route mmengine's local
    checkpoint loader (resume, ``load_from``, ``init_cfg``) through
    :func:`safe_load`. Idempotent."""
    global _LOADING_INSTALLED
    if _LOADING_INSTALLED:
        return
    torch.serialization.add_safe_globals(safe_globals())
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    _LOADING_INSTALLED = True


_SAVING_INSTALLED = False


def install_atomic_checkpoint_saving() -> None:
    """Route mmengine's checkpoint saving through
    :func:`atomic_save_checkpoint` and make ``type='CheckpointHook'`` build
    :class:`AtomicCheckpointHook`. Idempotent."""
    global _SAVING_INSTALLED
    if _SAVING_INSTALLED:
        return
    import mmengine.runner.checkpoint as ckpt_module
    original = ckpt_module.save_checkpoint
    atomic_save._ORIGINAL_SAVE_CHECKPOINT = original
    # Every module that did `from ... import save_checkpoint` holds its own
    # reference (mmengine.runner, .runner.runner, the strategies ...).
    for name, module in list(sys.modules.items()):
        if (name == 'mmengine' or name.startswith('mmengine.')) and getattr(
                module, 'save_checkpoint', None) is original:
            module.save_checkpoint = atomic_save_checkpoint
    HOOKS.register_module(name='CheckpointHook', module=AtomicCheckpointHook,
                          force=True)
    HOOKS.register_module(name='AtomicCheckpointHook',
                          module=AtomicCheckpointHook, force=True)
    _SAVING_INSTALLED = True


def apply() -> None:
    """Safe loading, then atomic saving (idempotent)."""
    install_safe_checkpoint_loading()
    install_atomic_checkpoint_saving()
