"""Rename timm-style ViT weights to mmpretrain ``VisionTransformer`` keys.

The GTSA and DINO reference implementations (and timm, MAE, DeiT ...) name a
ViT's parameters one way, mmpretrain's :class:`VisionTransformer` another.
Both compute the same function with the same tensor layouts (the fused
``qkv`` projection is split as ``(3, heads, head_dim)`` in both), so
converting a checkpoint is a pure renaming:

==============================  =====================================
timm / reference                mmpretrain ``VisionTransformer``
==============================  =====================================
``cls_token``                   ``cls_token``
``pos_embed``                   ``pos_embed``
``patch_embed.proj.*``          ``patch_embed.projection.*``
``blocks.N.norm1.*``            ``layers.N.ln1.*``
``blocks.N.attn.qkv.*``         ``layers.N.attn.qkv.*``
``blocks.N.attn.proj.*``        ``layers.N.attn.proj.*``
``blocks.N.norm2.*``            ``layers.N.ln2.*``
``blocks.N.mlp.fc1.*``          ``layers.N.ffn.layers.0.0.*``
``blocks.N.mlp.fc2.*``          ``layers.N.ffn.layers.1.*``
``norm.*`` (final norm)         ``ln1.*`` (``final_norm=True``)
``fc_norm.*`` (pooled norm)     ``ln2.*`` (``out_type='avg_featmap'``)
==============================  =====================================

Note the two meanings of ``ln1``: inside a block it is the pre-attention
norm, at the top level the final norm.

Used by ``tools/model_converters/dino_official_to_plugin.py`` and
``tools/model_converters/gtsa_official_to_plugin.py``.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Pattern, Tuple

__all__ = [
    'TIMM_TO_MMPRETRAIN_RULES', 'timm_vit_to_mmpretrain', 'map_timm_vit_key',
    'UnmatchedKeysError'
]

#: ``(pattern, replacement)`` pairs, tried in order; each pattern matches a
#: whole key (prefix stripped), the replacement may use its groups.
TIMM_TO_MMPRETRAIN_RULES: Tuple[Tuple[Pattern, str], ...] = tuple(
    (re.compile(p), r) for p, r in (
        (r'cls_token', 'cls_token'),
        (r'pos_embed', 'pos_embed'),
        (r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1'),
        (r'blocks\.(\d+)\.norm1\.(weight|bias)', r'layers.\1.ln1.\2'),
        (r'blocks\.(\d+)\.attn\.qkv\.(weight|bias)', r'layers.\1.attn.qkv.\2'),
        (r'blocks\.(\d+)\.attn\.proj\.(weight|bias)',
         r'layers.\1.attn.proj.\2'),
        (r'blocks\.(\d+)\.norm2\.(weight|bias)', r'layers.\1.ln2.\2'),
        (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
         r'layers.\1.ffn.layers.0.0.\2'),
        (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)',
         r'layers.\1.ffn.layers.1.\2'),
        (r'norm\.(weight|bias)', r'ln1.\1'),
        (r'fc_norm\.(weight|bias)', r'ln2.\1'),
    ))


class UnmatchedKeysError(KeyError):
    """Keys of a timm-style ViT state dict that have no mmpretrain name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ''


def map_timm_vit_key(key: str) -> str | None:
    """The mmpretrain name of one timm-style ViT key, or ``None``."""
    for pattern, replacement in TIMM_TO_MMPRETRAIN_RULES:
        if pattern.fullmatch(key):
            return pattern.sub(replacement, key)
    return None


def timm_vit_to_mmpretrain(
        state_dict: Mapping[str, object],
        unmatched: str = 'error') -> 'OrderedDict[str, object]':
    """Rename a timm-style ViT state dict to mmpretrain
    ``VisionTransformer`` keys.

    Values are passed through unchanged (same tensor objects): the layouts
    already agree, see the module docstring.

    Args:
        state_dict: ``{timm key: tensor}`` of ONE backbone, without prefixes
            such as ``module.`` or ``backbone.`` (strip them first).
        unmatched: What to do with keys no rule matches (a classifier
            ``head.*``, ``dist_token``, layer-scale ``gamma`` ...):
            ``'error'`` raises :class:`UnmatchedKeysError` naming them,
            ``'drop'`` leaves them out, ``'keep'`` copies them unchanged.

    Returns:
        ``OrderedDict`` in the input's order.

    Raises:
        UnmatchedKeysError: ``unmatched='error'`` and some key is unknown.
        ValueError: Two input keys map to the same output key, or an
            unknown ``unmatched`` mode.
    """
    if unmatched not in ('error', 'drop', 'keep'):
        raise ValueError("unmatched must be 'error', 'drop' or 'keep', got "
                         f'{unmatched!r}')
    out: 'OrderedDict[str, object]' = OrderedDict()
    source_of: Dict[str, str] = {}
    missing: List[str] = []
    for key, value in state_dict.items():
        new_key = map_timm_vit_key(key)
        if new_key is None:
            if unmatched == 'error':
                missing.append(key)
                continue
            if unmatched == 'drop':
                continue
            new_key = key
        if new_key in source_of:
            raise ValueError(f'{key!r} and {source_of[new_key]!r} both map '
                             f'to {new_key!r}')
        source_of[new_key] = key
        out[new_key] = value
    if missing:
        shown = ', '.join(sorted(missing)[:20])
        more = f' ... ({len(missing) - 20} more)' if len(missing) > 20 else ''
        raise UnmatchedKeysError(
            f'{len(missing)} keys are not timm-style ViT backbone weights: '
            f'{shown}{more}. Strip wrapper prefixes (module., backbone.) '
            "first, or pass unmatched='drop' to leave such keys out.")
    return out
