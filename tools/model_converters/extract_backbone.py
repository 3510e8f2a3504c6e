"""Write the backbone of a GTSA/DINO pretraining checkpoint to its own file.

    python tools/model_converters/extract_backbone.py CKPT OUT \
        [--source teacher|student]

``OUT`` holds ``{'meta': {...}, 'state_dict': {<VisionTransformer keys>}}``
and can be given to any downstream config as
``model.backbone.init_cfg.checkpoint``. ``CKPT`` is read with the plugin's
``weights_only`` loader; nothing in it is executed.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

import gtsa_plugin  # noqa: E402,F401  (safe checkpoint loading)
from gtsa_plugin.models.utils.pretrained_init import (  # noqa: E402
    SOURCE_PREFIXES, extract_backbone_state_dict)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the ViT backbone (teacher or student) of a '
        'GTSA/DINO pretraining checkpoint')
    parser.add_argument('checkpoint', help='pretraining checkpoint (.pth)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument(
        '--source',
        choices=sorted(SOURCE_PREFIXES),
        default='teacher',
        help='which backbone to extract (default: teacher)')
    return parser.parse_args(argv)


def extract_backbone(checkpoint: str, out: str,
                     source: str = 'teacher') -> dict:
    """Extract ``source``'s backbone from ``checkpoint`` and save it to
    ``out``; returns the saved dict."""
    from mmengine.runner.checkpoint import _load_checkpoint

    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state_dict, layout = extract_backbone_state_dict(ckpt, source, checkpoint)
    meta = dict(
        source=source if layout == 'pretraining' else None,
        original_file=checkpoint,
        original_layout=layout,
    )
    # Keep a few plain numbers of the run for traceability (ints and strings
    # only, so the file stays loadable with weights_only=True).
    src_meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if isinstance(src_meta, dict):
        for key in ('epoch', 'iter', 'mmengine_version', 'experiment_name'):
            if isinstance(src_meta.get(key), (int, str)):
                meta[key] = src_meta[key]
    if layout == 'backbone':
        print(f'note: {checkpoint} holds a backbone only; --source ignored')
    # clone(): save each tensor on its own rather than views into the
    # (much larger) storages of the pretraining checkpoint.
    tensors = OrderedDict((k, v.detach().clone().contiguous())
                          for k, v in state_dict.items())
    out_dict = dict(meta=meta, state_dict=tensors)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(out_dict, out)
    return out_dict


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    saved = extract_backbone(args.checkpoint, args.out, args.source)
    n = sum(v.numel() for v in saved['state_dict'].values())
    print(f'wrote {len(saved["state_dict"])} tensors ({n / 1e6:.2f} M '
          f'values, {saved["meta"]["source"] or "backbone"}) to {args.out}')


if __name__ == '__main__':
    main()
