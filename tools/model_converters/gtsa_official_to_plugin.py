"""Convert a checkpoint saved by the reference GTSA code into this plugin's
format.

    python tools/model_converters/gtsa_official_to_plugin.py IN OUT

IN is the reference's ``checkpoint-*.pth``: a dict whose ``'model'`` holds
``base_encoder.*``, ``base_projector.*``, ``base_predictor.*``,
``momentum_encoder.*``, ``momentum_projector.*`` and ``rot_predictor.*``.
OUT loads with ``strict=True`` into the model of
``configs/gtsa_vit-s_coco.py`` (``load_from=OUT``, or any downstream
config's ``model.backbone.init_cfg.checkpoint=OUT``). The file is read with
``weights_only=True``; only ``argparse.Namespace`` (the reference stores its
arguments) is additionally allowed.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Dict

sys.path.insert(
    0, osp.dirname(
        osp.dirname(
            osp.dirname(
                osp.abspath(__file__)))))

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from gtsa_plugin.models.utils.vit_key_mapping import \
    timm_vit_to_mmpretrain  # noqa: E402
from gtsa_plugin.utils.checkpoint import safe_load  # noqa: E402

# reference prefix -> (our prefix, kind): "vit" keys are renamed from timm
# style; the dense projector/predictor blocks keep their layout (only the
# conv at index 0 of each block has weights, in theirs and ours).
PREFIXES = {
    'base_encoder.': ('backbone.', 'vit'),
    'momentum_encoder.': ('target_net.module.0.', 'vit'),
    'base_projector.': ('neck.', 'dense'),
    'momentum_projector.': ('target_net.module.1.', 'dense'),
    'base_predictor.': ('head.predictor.', 'dense'),
    # Same layer order: Linear, LN, GELU, Linear, LN, GELU, Linear, LN, Linear
    'rot_predictor.': ('rot_head.mlp.', 'same'),
}


def convert_gtsa_official(model_state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Map the reference's ``model`` state dict to ours.

    Raises:
        KeyError: a key with an unknown prefix (names it).
    """
    groups: Dict[str, Dict[str, Tensor]] = {p: {} for p in PREFIXES}
    for key, value in model_state.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(
                f'unexpected key in the reference checkpoint: {key}')
        groups[prefix][key[len(prefix):]] = value
    out: Dict[str, Tensor] = {}
    for prefix, params in groups.items():
        new_prefix, kind = PREFIXES[prefix]
        if kind == 'vit':
            params = timm_vit_to_mmpretrain(params)
        for key, value in params.items():
            out[new_prefix + key] = value
    # The teacher is initialised: the EMA must average from the next step
    # on instead of copying the student over it (CosineEMA copies at step 0).
    out['target_net.steps'] = torch.tensor(1, dtype=torch.long)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='reference checkpoint (checkpoint-*.pth)')
    parser.add_argument('dst', help='output path')
    args = parser.parse_args(argv)
    ckpt = safe_load(args.src, extra_globals=[argparse.Namespace])
    state = ckpt.get('model', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{args.src}: expected a dict with a "model" entry')
    converted = convert_gtsa_official(state)
    meta = dict(converted_from=osp.basename(args.src),
                source='bok3948/GTSA reference checkpoint',
                epoch=ckpt.get('epoch') if isinstance(ckpt, dict) else None)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(meta=meta, state_dict=converted), args.dst)
    print(f'wrote {len(converted)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
