"""Convert a DINO checkpoint of the GTSA reference code base to this plugin.

    python tools/model_converters/dino_official_to_plugin.py IN OUT \
        [--check-config configs/dino_vit-s_coco.py]

The GTSA reference releases DINO ViT-S/16 baselines (COCO train2017 and
ADE20K, 100 epochs; see ``configs/dino/metafile.yml``). They come from the
DINO code base (facebookresearch/dino), whose files may be laid out as

* a full training checkpoint: ``{'student': {'module.backbone.*',
  'module.head.*'}, 'teacher': {'backbone.*', 'head.*'}, 'dino_loss':
  {'center'}, 'epoch', 'args': argparse.Namespace, ...}``;
* a state dict under ``'model'`` / ``'state_dict'`` (same prefixes);
* a bare backbone ``{'cls_token', 'pos_embed', 'blocks.*', ...}`` (DINO's
  own releases hold the teacher backbone this way).

The ViT keys are timm-style and renamed by
:func:`gtsa_plugin.models.utils.vit_key_mapping.timm_vit_to_mmpretrain`; the
projection head (``mlp.{0,2,4}``, weight-normalised ``last_layer``) maps
onto :class:`DINONeck` (``weight_g``/``weight_v`` -> the parametrisation's
``original0``/``original1``). OUT is an mmengine-style checkpoint
``{'meta', 'state_dict'}`` with this plugin's DINO layout:

================================  ======================================
reference                         plugin (``configs/dino_*.py``)
================================  ======================================
teacher ``backbone.*``            ``target_net.module.0.*``
teacher ``head.*``                ``target_net.module.1.*``
student ``backbone.*``            ``backbone.*``
student ``head.*``                ``neck.*``
``dino_loss['center']``           ``head.center``
================================  ======================================

A full checkpoint loads strictly into ``model`` of the DINO configs (use it
as ``load_from``); any OUT works as a downstream initialisation
(``model.backbone.init_cfg.checkpoint=OUT``, teacher backbone by default).
IN is read with :func:`gtsa_plugin.utils.checkpoint.safe_load`
(``weights_only=True``; ``argparse.Namespace`` is the one extra type
allowed): nothing in it is executed.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence, Tuple

# Runnable from anywhere: the repo root (two levels up) on the path.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

from gtsa_plugin.models.utils.vit_key_mapping import \
    timm_vit_to_mmpretrain  # noqa: E402
from gtsa_plugin.utils.checkpoint import safe_load  # noqa: E402

#: Plugin prefixes of the four networks (see the module docstring).
PLUGIN_PREFIXES = {
    ('teacher', 'backbone'): 'target_net.module.0.',
    ('teacher', 'head'): 'target_net.module.1.',
    ('student', 'backbone'): 'backbone.',
    ('student', 'head'): 'neck.',
}
_WEIGHT_NORM_KEYS = {
    'last_layer.weight_g': 'last_layer.parametrizations.weight.original0',
    'last_layer.weight_v': 'last_layer.parametrizations.weight.original1',
    'last_layer.parametrizations.weight.original0':
    'last_layer.parametrizations.weight.original0',
    'last_layer.parametrizations.weight.original1':
    'last_layer.parametrizations.weight.original1',
}


class ConversionError(ValueError):
    """The input is not a DINO checkpoint this converter understands."""


def _tensors(d: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    return OrderedDict(
        (k, v) for k, v in d.items() if isinstance(v, torch.Tensor))


def _strip(d: Mapping[str, torch.Tensor],
           prefix: str) -> Dict[str, torch.Tensor]:
    """Remove ``prefix`` from every key that has it (DDP's ``module.``)."""
    return OrderedDict((k[len(prefix):] if k.startswith(prefix) else k, v)
                       for k, v in d.items())


TensorDict = Dict[str, torch.Tensor]


def split_networks(
        network: Mapping[str, torch.Tensor]) -> Tuple[TensorDict, TensorDict]:
    """``(backbone, head)`` tensors of one reference network (DINO's
    ``MultiCropWrapper``: ``backbone.*`` + ``head.*``, or a bare
    backbone)."""
    network = _strip(network, 'module.')
    if any(k.startswith('backbone.') for k in network):
        backbone = OrderedDict((k[len('backbone.'):], v)
                               for k, v in network.items()
                               if k.startswith('backbone.'))
        head = OrderedDict((k[len('head.'):], v) for k, v in network.items()
                           if k.startswith('head.'))
        other = [k for k in network
                 if not k.startswith(('backbone.', 'head.'))]
        if other:
            raise ConversionError('unexpected keys next to backbone.*/head.*: '
                                  f'{sorted(other)[:10]}')
        return backbone, head
    return OrderedDict(network), OrderedDict()


def convert_head(head: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """DINO projection head -> :class:`DINONeck` keys.

    ``mlp.i.*`` keep their names (Linear/GELU alternate identically);
    the weight-normalised prototypes become the parametrisation's
    ``original0`` (magnitude ``g``) and ``original1`` (direction ``v``). A
    plain ``last_layer.weight`` is split into ``g = ||w||`` per row and
    ``v = w``, the same function.
    """
    out: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in head.items():
        if key.startswith('mlp.'):
            if key.endswith(('running_mean', 'running_var',
                             'num_batches_tracked')):
                raise ConversionError(
                    'the DINO head has BatchNorm layers (use_bn=True); '
                    'DINONeck has none, so it cannot hold these weights')
            out[key] = value
        elif key in _WEIGHT_NORM_KEYS:
            out[_WEIGHT_NORM_KEYS[key]] = value
        elif key == 'last_layer.weight':
            out['last_layer.parametrizations.weight.original0'] = \
                value.norm(dim=1, keepdim=True)
            out['last_layer.parametrizations.weight.original1'] = value
        else:
            raise ConversionError(f'unknown DINO head key {key!r}')
    return out


def find_networks(ckpt: object) -> Tuple[Dict[str, Dict], str]:
    """The reference networks inside a loaded checkpoint.

    Returns:
        ``({'teacher'|'student': tensor dict}, layout)`` where ``layout``
        names what was found (for the output's meta).
    """
    if not isinstance(ckpt, Mapping):
        raise ConversionError(
            f'expected a dict checkpoint, got {type(ckpt).__name__}')
    networks = {name: _tensors(ckpt[name]) for name in ('teacher', 'student')
                if isinstance(ckpt.get(name), Mapping)}
    if networks:
        return networks, 'dino_training_checkpoint'
    for container in ('model', 'state_dict'):
        if isinstance(ckpt.get(container), Mapping):
            inner = _strip(_tensors(ckpt[container]), 'module.')
            layout = f'{container}_dict'
            break
    else:
        inner, layout = _strip(_tensors(ckpt), 'module.'), 'flat'
    if not inner:
        raise ConversionError('the checkpoint holds no tensors')
    # '<net>.backbone.*' inside one dict (e.g. a wrapper holding both).
    nested = {name: OrderedDict((k[len(name) + 1:], v)
                                for k, v in inner.items()
                                if k.startswith(name + '.'))
              for name in ('teacher', 'student')}
    nested = {k: v for k, v in nested.items() if v}
    if nested:
        return nested, layout + '_teacher_student'
    # A single network: DINO releases the teacher's backbone.
    return {'teacher': inner}, layout + '_single_network'


def _plain_meta(args: object) -> Dict[str, object]:
    """The reference's ``args`` as plain values (safe for weights_only)."""
    items = vars(args) if isinstance(args, argparse.Namespace) else args
    if not isinstance(items, Mapping):
        return {}
    plain = {}
    for key, value in items.items():
        if isinstance(value, (bool, int, float, str)) or value is None:
            plain[str(key)] = value
        elif isinstance(value, (list, tuple)) and all(
                isinstance(v, (bool, int, float, str)) for v in value):
            plain[str(key)] = list(value)
    return plain


def convert(ckpt: object, filename: str = '<checkpoint>') -> dict:
    """Convert a loaded reference DINO checkpoint; see the module docstring.

    Returns:
        ``{'meta': {...}, 'state_dict': OrderedDict}``.

    Raises:
        ConversionError: Unknown layout or keys (names them).
    """
    networks, layout = find_networks(ckpt)
    state_dict: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    found = []
    for name in ('student', 'teacher'):
        if name not in networks:
            continue
        backbone, head = split_networks(networks[name])
        try:
            backbone = timm_vit_to_mmpretrain(backbone, unmatched='error')
        except KeyError as err:
            raise ConversionError(f'{filename}: {name} backbone: {err}') \
                from None
        if 'cls_token' not in backbone:
            raise ConversionError(
                f'{filename}: no ViT backbone (cls_token) in the {name}')
        for key, value in backbone.items():
            state_dict[PLUGIN_PREFIXES[(name, 'backbone')] + key] = value
        found.append(f'{name} backbone')
        if head:
            for key, value in convert_head(head).items():
                state_dict[PLUGIN_PREFIXES[(name, 'head')] + key] = value
            found.append(f'{name} head')
    if isinstance(ckpt, Mapping) and isinstance(ckpt.get('dino_loss'),
                                                Mapping):
        center = ckpt['dino_loss'].get('center')
        if isinstance(center, torch.Tensor):
            state_dict['head.center'] = center
            found.append('centre')
    if 'teacher' in networks:
        # CosineEMA's update counter. 1 = "synchronised, no EMA step yet",
        # what the plugin's DINO holds before its first iteration; a run
        # started from these weights (load_from) begins its momentum
        # schedule at the start, as any non-resumed run does.
        state_dict['target_net.steps'] = torch.tensor(1, dtype=torch.long)

    meta: Dict[str, object] = dict(
        converted_from=osp.basename(filename),
        converter='tools/model_converters/dino_official_to_plugin.py',
        official_layout=layout,
        contents=found)
    if isinstance(ckpt, Mapping):
        if isinstance(ckpt.get('epoch'), int):
            meta['official_epoch'] = ckpt['epoch']
        args = _plain_meta(ckpt.get('args'))
        if args:
            meta['official_args'] = args
    # clone(): each tensor saved on its own, not as a view into the much
    # larger storages (optimizer state ...) of the input.
    state_dict = OrderedDict((k, v.detach().clone().contiguous())
                             for k, v in state_dict.items())
    return dict(meta=meta, state_dict=state_dict)


def check_against_config(state_dict: Mapping[str, torch.Tensor],
                         config: str) -> Tuple[list, list]:
    """Build ``config``'s model and load ``state_dict`` into it (shapes must
    match); returns ``(missing, unexpected)`` keys."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from gtsa_plugin.apis.cli import register_toolkit
    cfg = Config.fromfile(config)
    scope = register_toolkit(cfg)
    init_default_scope(scope)
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model)
    result = model.load_state_dict(state_dict, strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a DINO checkpoint of the GTSA reference code '
        "base to this plugin's DINO layout")
    parser.add_argument('src', help='reference checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--check-config',
        help='also build this DINO config and load the result into it; '
        'exit 1 on missing/unexpected keys or shape mismatches')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    ckpt = safe_load(args.src, extra_globals=[argparse.Namespace])
    converted = convert(ckpt, args.src)
    out_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(converted, args.dst)
    sd = converted['state_dict']
    meta = converted['meta']
    print(f'wrote {len(sd)} tensors ({", ".join(meta["contents"])}; layout '
          f'{meta["official_layout"]}) to {args.dst}')
    if args.check_config:
        try:
            missing, unexpected = check_against_config(sd, args.check_config)
        except RuntimeError as err:  # shape mismatch: another architecture
            print(f'{args.check_config}: cannot load the result: {err}')
            return 1
        if missing or unexpected:
            print(f'{args.check_config}: missing {len(missing)} keys '
                  f'{missing[:10]}, unexpected {len(unexpected)} keys '
                  f'{unexpected[:10]}')
            return 1
        print(f'{args.check_config}: all {len(sd)} tensors load strictly')
    return 0


if __name__ == '__main__':
    sys.exit(main())
