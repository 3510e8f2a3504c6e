"""``--cfg-options`` on one field of a named backbone architecture.

The configs name the ViT size the way mmpretrain's own configs do
(``arch='deit-small'``, ``arch='deit-base'``). mmengine cannot merge an
option such as ``model.backbone.arch.num_layers=6`` into a string (it raises
``TypeError``), yet that is how users shrink or reshape a backbone from the
command line, and how these configs accepted it before they used the names.

:func:`expand_named_archs` replaces, before the options are merged, each
named ``arch`` that an option reaches into by the entry of the backbone
class's ``arch_zoo`` (mmpretrain's table, e.g. ``VisionTransformer``), so
the option edits a dict that holds the same numbers. Configs without such
options are left untouched (their ``arch`` stays a name). A field that no
entry of the table has (``num_layer``) is refused: the backbone would
ignore it and build the unedited size.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from mmengine.config import Config

__all__ = ['expand_named_archs']


def _node(cfg: Any, path: str) -> Any:
    """The value at dotted ``path`` (list positions as digits) or None."""
    node = cfg
    for part in path.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit():
            index = int(part)
            node = node[index] if index < len(node) else None
        elif isinstance(node, (dict, Config)):
            node = node.get(part)
        else:
            return None
        if node is None:
            return None
    return node


def _arch_zoo(backbone_type: Any) -> Optional[dict]:
    """``arch_zoo`` of the backbone class registered as ``backbone_type`` in
    mmpretrain's model registry (``'mmpretrain.'`` prefix allowed)."""
    from mmpretrain.registry import MODELS
    if not isinstance(backbone_type, str):
        return None
    cls = MODELS.get(backbone_type)
    zoo = getattr(cls, 'arch_zoo', None)
    return zoo if isinstance(zoo, dict) else None


def expand_named_archs(cfg: Config,
                       cfg_options: Optional[Dict[str, Any]]) -> dict:
    """Turn each named ``arch`` that an option edits a field of into its
    dict, so that ``cfg.merge_from_dict(options)`` works.

    Args:
        cfg: The loaded config; edited in place.
        cfg_options: ``--cfg-options`` as parsed by mmengine's DictAction
            (``{'model.backbone.arch.num_layers': 6, ...}``).

    Returns:
        dict: The options to merge. An option that renames the arch in the
        same command (``model.backbone.arch=deit-tiny`` together with
        ``model.backbone.arch.num_layers=6``) is consumed here: the fields
        then edit the entry of the new name.

    Raises:
        KeyError: The name is not in the backbone class's ``arch_zoo``, or
            the field is in none of its entries; the message names the
            option and the known names or fields.
    """
    options = dict(cfg_options or {})
    for key in list(options):
        head, sep, field = key.rpartition('.arch.')
        if not sep or '.' in field:
            continue
        arch_key = f'{head}.arch'
        backbone = _node(cfg, head)
        if not isinstance(backbone, dict):
            continue
        # a type or name given in the same command wins over the file's
        backbone_type = options.get(f'{head}.type', backbone.get('type'))
        zoo = _arch_zoo(backbone_type)
        name = options.get(arch_key, _node(cfg, arch_key))
        if isinstance(name, str):
            if zoo is None or name.lower() not in zoo:
                known = (f'known: {sorted(zoo)}' if zoo else
                         'it has no table of named architectures')
                raise KeyError(
                    f'--cfg-options {key}: {arch_key}={name!r} is not a '
                    f'named architecture of {backbone_type} ({known}); set '
                    f'{arch_key} to a known name or to a dict of all fields')
            backbone['arch'] = copy.deepcopy(dict(zoo[name.lower()]))
            options.pop(arch_key, None)
        fields = set().union(*map(set, zoo.values())) if zoo else set()
        if fields and field not in fields:
            # the backbone ignores unknown keys: a typo would change nothing
            raise KeyError(
                f'--cfg-options {key}: {backbone_type} has no arch field '
                f'{field!r} (fields: {sorted(fields)})')
    return options
