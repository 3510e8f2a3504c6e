"""Initialise a downstream backbone from a GTSA or DINO pretraining run.

Every downstream config takes its weights from one field::

    model.backbone.init_cfg = dict(type='SSLPretrained', checkpoint=PATH,
                                   source='teacher', strict=True)

``PATH`` may be

* a full pretraining checkpoint written by mmengine's ``CheckpointHook``:
  ``{'meta': ..., 'state_dict': {'backbone.<k>': student,
  'target_net.module.0.<k>': teacher, 'neck.*', 'head.*', ...}}``;
* the backbone-only file of ``tools/model_converters/extract_backbone.py``:
  ``{'meta': {'source': ...}, 'state_dict': {<k>: ...}}``;
* a flat ``{<k>: tensor}`` dict or one under a ``'model'`` key,

where ``<k>`` are mmpretrain ``VisionTransformer`` parameter names. Files are
read with mmengine's ``_load_checkpoint``, which ``gtsa_plugin`` routes
through its ``weights_only`` loader.

The initializer is registered in mmengine's root ``WEIGHT_INITIALIZERS``, so
it resolves from the mmdet, mmseg and mmpretrain scopes alike.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS

__all__ = [
    'SSLPretrainedInit', 'BackboneKeysError', 'extract_backbone_state_dict',
    'SOURCE_PREFIXES', 'CHECKPOINT_CFG_KEY'
]

#: Where the two backbones of a GTSA/DINO run live in its ``state_dict``.
SOURCE_PREFIXES: Dict[str, str] = {
    'teacher': 'target_net.module.0.',
    'student': 'backbone.',
}
#: The config field users set; named in every error about it.
CHECKPOINT_CFG_KEY = 'model.backbone.init_cfg.checkpoint'


class BackboneKeysError(KeyError):
    """A checkpoint lacks weights the backbone needs."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ''


def _short_list(keys: Iterable[str], limit: int = 20) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)'
                    if len(keys) > limit else '')


def _unwrap_state_dict(checkpoint: object, filename: str) -> dict:
    """The tensor dict inside a loaded checkpoint file."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{filename}: expected a dict checkpoint, got '
                        f'{type(checkpoint).__name__}')
    for key in ('state_dict', 'model'):
        inner = checkpoint.get(key)
        if isinstance(inner, dict):
            return inner
    return checkpoint


def extract_backbone_state_dict(checkpoint: object,
                                source: str = 'teacher',
                                filename: str = '<checkpoint>'
                                ) -> Tuple['OrderedDict[str, torch.Tensor]',
                                           str]:
    """Take the backbone weights out of a loaded checkpoint.

    Args:
        checkpoint: What ``_load_checkpoint`` returned (see the module
            docstring for the accepted layouts).
        source (str): ``'teacher'`` (``target_net.module.0.*``) or
            ``'student'`` (``backbone.*``); used for pretraining checkpoints.
        filename (str): Only for messages.

    Returns:
        tuple: ``(state_dict, layout)``: the backbone's tensors keyed by
        ``VisionTransformer`` names, and ``'pretraining'`` or ``'backbone'``
        (a file that holds the backbone alone; ``source`` does not apply).

    Raises:
        ValueError: Unknown ``source``.
        BackboneKeysError: A pretraining checkpoint without the requested
            backbone, or a file without any tensors.
    """
    if source not in SOURCE_PREFIXES:
        raise ValueError(f'source must be one of {sorted(SOURCE_PREFIXES)}, '
                         f'got {source!r}')
    state_dict = _unwrap_state_dict(checkpoint, filename)
    tensors = OrderedDict(
        (k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor))
    found = {
        name: [k for k in tensors if k.startswith(prefix)]
        for name, prefix in SOURCE_PREFIXES.items()
    }
    if any(found.values()):
        prefix = SOURCE_PREFIXES[source]
        if not found[source]:
            others = [n for n in found if found[n]]
            raise BackboneKeysError(
                f'{filename} has no {source} backbone (no keys starting '
                f'with {prefix!r}); it holds the {" and ".join(others)} '
                f"backbone: set init_cfg source='{others[0]}'")
        return OrderedDict((k[len(prefix):], tensors[k])
                           for k in found[source]), 'pretraining'
    if not tensors:
        raise BackboneKeysError(f'{filename} holds no tensors')
    return tensors, 'backbone'


def _mark_initialized(module: nn.Module, filename: str) -> None:
    """Stop later ``init_weights`` calls from overwriting loaded weights.

    mmengine's ``BaseModule.init_weights`` runs a non-``'Pretrained'``
    init_cfg *before* the children's own ``init_weights`` (e.g. mmcv's
    ``TransformerEncoderLayer`` re-draws its FFN with xavier init), and
    mmpretrain's ``VisionTransformer`` re-draws ``pos_embed`` afterwards
    unless its ``init_cfg`` type is ``'Pretrained'``. So we mark every
    submodule as initialised and record on the module that it now holds
    pretrained weights. Parameters the file did not provide (allowed or
    non-strict) keep the initialisation they got at construction.
    """
    for sub in module.modules():
        if isinstance(sub, BaseModule):
            sub._is_init = True
    # The convention OpenMMLab modules check ('Pretrained' => keep weights).
    module.init_cfg = dict(type='Pretrained', checkpoint=filename)


@WEIGHT_INITIALIZERS.register_module(name='SSLPretrained')
class SSLPretrainedInit:
    """Load a GTSA/DINO pretrained backbone into a module, checked.

    Use it as the backbone's ``init_cfg``; mmengine's Runner applies it when
    training starts (``model.init_weights()``)::

        backbone=dict(
            type='mmpretrain.VisionTransformer', ...,
            init_cfg=dict(type='SSLPretrained', checkpoint='gtsa.pth',
                          source='teacher'))

    Position embeddings of another grid size are resized (bicubic) by
    ``VisionTransformer``'s load hook. Keys of the file that the module does
    not have (e.g. ``ln1.*`` when ``final_norm=False``) are reported and
    ignored.

    Args:
        checkpoint (str): Path of the checkpoint (see the module docstring).
            Must be set: ``--cfg-options
            model.backbone.init_cfg.checkpoint=PATH``.
        source (str): ``'teacher'`` (default; the momentum encoder GTSA and
            DINO evaluate) or ``'student'``. Ignored for backbone-only files.
        strict (bool): Raise when a module parameter is not in the file.
            With False the missing keys are logged as a warning and keep
            their initialisation from construction. Defaults to True.
        allow_missing (Sequence[str]): Key prefixes that may be absent
            (layers that exist only downstream, e.g. ``'ln2.'`` for
            ``out_type='avg_featmap'``). They keep their initialisation
            from construction.
        map_location (str): Passed to the loader. Defaults to ``'cpu'``.
    """

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 source: str = 'teacher',
                 strict: bool = True,
                 allow_missing: Sequence[str] = (),
                 map_location: str = 'cpu') -> None:
        if source not in SOURCE_PREFIXES:
            raise ValueError(
                f"SSLPretrained: source must be 'teacher' or 'student', got "
                f'{source!r}')
        if isinstance(allow_missing, str):
            allow_missing = (allow_missing, )
        self.checkpoint = checkpoint
        self.source = source
        self.strict = strict
        self.allow_missing = tuple(allow_missing)
        self.map_location = map_location

    def _is_allowed_missing(self, key: str) -> bool:
        return any(key.startswith(p) for p in self.allow_missing)

    def __call__(self, module: nn.Module) -> None:
        from mmengine.runner.checkpoint import _load_checkpoint

        if not self.checkpoint:
            raise ValueError(
                'SSLPretrained: no pretrained checkpoint given. Set '
                f'{CHECKPOINT_CFG_KEY} to a GTSA/DINO pretraining checkpoint '
                'or a file from tools/model_converters/extract_backbone.py, '
                f'e.g. --cfg-options {CHECKPOINT_CFG_KEY}=PATH')
        filename = str(self.checkpoint)
        checkpoint = _load_checkpoint(
            filename, map_location=self.map_location, logger='current')
        state_dict, layout = extract_backbone_state_dict(
            checkpoint, self.source, filename)

        expected = list(module.state_dict().keys())
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in set(expected)]
        missing_bad = [k for k in missing if not self._is_allowed_missing(k)]
        what = (f'{self.source} backbone' if layout == 'pretraining' else
                'backbone-only file')
        if missing_bad and self.strict:
            raise BackboneKeysError(
                f'SSLPretrained: {filename} ({what}) lacks '
                f'{len(missing_bad)} of the {len(expected)} weights of '
                f'{type(module).__name__}: {_short_list(missing_bad)}. Is it '
                'a GTSA/DINO checkpoint of the same architecture? (Set '
                'init_cfg strict=False to train them from scratch, or '
                'allow_missing=[prefixes] for layers that exist only '
                'downstream.)')

        try:
            result = module.load_state_dict(state_dict, strict=False)
        except RuntimeError as err:  # e.g. shape mismatch: name the file
            raise RuntimeError(
                f'SSLPretrained: cannot load {filename} ({what}) into '
                f'{type(module).__name__}: {err}') from err
        # The load hooks (pos_embed resizing) may change the key set; trust
        # what load_state_dict reports over our pre-check.
        missing = list(result.missing_keys)
        missing_bad = [k for k in missing if not self._is_allowed_missing(k)]
        if missing_bad and self.strict:
            raise BackboneKeysError(
                f'SSLPretrained: {filename} ({what}) did not provide '
                f'{_short_list(missing_bad)}')
        loaded = [k for k in expected if k not in set(missing)]

        print_log(
            f'SSLPretrained: loaded {len(loaded)}/{len(expected)} weights of '
            f'{type(module).__name__} from {filename} ({what})',
            logger='current')
        if missing_bad:
            print_log(
                f'SSLPretrained: {filename} MISSES {len(missing_bad)} '
                f'backbone weights; NOT pretrained, left as constructed: '
                f'{_short_list(missing_bad)}',
                logger='current',
                level=logging.WARNING)
        allowed = [k for k in missing if k not in missing_bad]
        if allowed:
            print_log(
                f'SSLPretrained: not in the checkpoint, left as constructed '
                f'(allow_missing): {_short_list(allowed)}',
                logger='current')
        if unexpected:
            print_log(
                f'SSLPretrained: ignored {len(unexpected)} keys of {filename} '
                f'that {type(module).__name__} does not have: '
                f'{_short_list(unexpected)}',
                logger='current',
                level=logging.WARNING)

        _mark_initialized(module, filename)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return (f'{type(self).__name__}: {self.source} backbone from '
                f'{self.checkpoint}')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(checkpoint={self.checkpoint!r}, '
                f'source={self.source!r}, strict={self.strict}, '
                f'allow_missing={list(self.allow_missing)})')
