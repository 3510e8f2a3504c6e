"""Dense probes of a frozen backbone: linear and k-NN segmentation.

    python tools/analysis/dense_probe.py CONFIG CKPT --data DIR \
        [--source teacher|student] [--out F.json] [--k 20] [--img-size W H]
    python tools/analysis/dense_probe.py CONFIG --random-init --data DIR

``CONFIG`` is the pretraining config whose ``model.backbone`` is built (a
ViT is switched to ``out_type='featmap'``; a CNN gives its last stage);
``CKPT`` a GTSA/DINO checkpoint (teacher by default) or a backbone-only
file. ``DIR`` is ADE-style: ``images/{training,validation}`` and
``annotations/{training,validation}`` (ADE20K itself, or the ``ade/``
folder of ``tools/make_synthetic_scenes.py``); label 0 is ignored and
``l`` is class ``l - 1`` (ADE's ``reduce_zero_label``). Features are
extracted once and cached under ``--cache-dir`` keyed by config, checkpoint,
data and options. Prints a table and writes mIoU / aAcc / mAcc of both
probes as JSON. See ``gtsa_plugin/evaluation/`` for the method.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import numpy as np  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='pretraining config (its model.backbone)')
    p.add_argument('checkpoint', nargs='?', help='GTSA/DINO checkpoint')
    p.add_argument('--random-init', action='store_true',
                   help='no checkpoint: the random-init floor')
    p.add_argument('--data', required=True, help='ADE-style folder')
    p.add_argument('--source', choices=['teacher', 'student'],
                   default='teacher')
    p.add_argument('--out', help='write the metrics to this JSON file')
    p.add_argument('--num-classes', type=int,
                   help='default: meta.json of synthetic scenes, else the '
                   'largest training label')
    p.add_argument('--no-reduce-zero-label', action='store_true',
                   help='labels are 0-based, 255 = ignore')
    p.add_argument('--img-size', type=int, nargs=2, metavar=('W', 'H'),
                   help='resize every image to W x H (default: the first '
                   'image, longest side <= 512, multiples of 32)')
    p.add_argument('--k', type=int, default=20, help='k-NN neighbours')
    p.add_argument('--temperature', type=float, default=0.07)
    p.add_argument('--linear-epochs', type=int, default=30)
    p.add_argument('--max-train-patches', type=int, default=500_000)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--seed', type=int, default=0,
                   help='random init, patch sampling and linear probe')
    p.add_argument('--cache-dir', default='work_dirs/dense_probe_cache',
                   help="feature cache ('' to disable)")
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    if bool(args.checkpoint) == bool(args.random_init):
        p.error('give CKPT or --random-init (exactly one)')
    return args


def infer_num_classes(data_dir: str, reduce_zero_label: bool) -> int:
    """Classes of an ADE-style folder: synthetic ``meta.json`` (in DIR or
    its parent) if any, else the largest training label."""
    from gtsa_plugin.evaluation.frozen_features import (IGNORE_INDEX,
                                                        ade_pairs, load_label)
    for meta in (osp.join(data_dir, 'meta.json'),
                 osp.join(osp.dirname(osp.normpath(data_dir)), 'meta.json')):
        if osp.isfile(meta):
            with open(meta) as f:
                return len(json.load(f)['classes']['ade'])
    top = 0
    for _, lab in ade_pairs(data_dir, 'training'):
        values = np.unique(load_label(lab, reduce_zero_label))
        values = values[values != IGNORE_INDEX]
        top = max(top, int(values.max()) + 1 if values.size else 0)
    return top


def format_table(metrics: dict, title: str) -> str:
    lines = [title, f'{"probe":<8}{"mIoU":>8}{"aAcc":>8}{"mAcc":>8}']
    for name, m in metrics.items():
        lines.append(f'{name:<8}{m["mIoU"]:8.2f}{m["aAcc"]:8.2f}'
                     f'{m["mAcc"]:8.2f}')
    return '\n'.join(lines)


def dense_probe(args: argparse.Namespace) -> dict:
    """Extract (or read cached) features and run both probes."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import gtsa_plugin  # noqa: F401  (registries, safe checkpoint loading)
    from gtsa_plugin.evaluation.dense_probe import run_dense_probes
    from gtsa_plugin.evaluation.frozen_features import (
        ade_pairs, build_frozen_backbone, cache_key, cached_features,
        default_img_size, extract_features)

    init_default_scope('mmpretrain')
    reduce = not args.no_reduce_zero_label
    cfg = Config.fromfile(args.config)
    num_classes = args.num_classes or infer_num_classes(args.data, reduce)
    img_size = tuple(args.img_size or default_img_size(
        ade_pairs(args.data, 'training')[0][0]))
    opts = dict(num_classes=num_classes, img_size=list(img_size),
                max_train_patches=args.max_train_patches,
                reduce_zero_label=reduce, seed=args.seed)
    key = cache_key(args.config, args.checkpoint, args.source, args.data,
                    opts)

    def compute():
        backbone = build_frozen_backbone(cfg, args.checkpoint, args.source,
                                         args.seed)
        return extract_features(
            backbone, cfg, args.data, num_classes, img_size,
            batch_size=args.batch_size,
            max_train_patches=args.max_train_patches,
            reduce_zero_label=reduce, seed=args.seed,
            progress=not args.no_progress)

    feats = cached_features(args.cache_dir or None, key, compute)
    metrics = run_dense_probes(
        feats, linear=dict(epochs=args.linear_epochs, seed=args.seed),
        knn=dict(k=args.k, temperature=args.temperature),
        reduce_zero_label=reduce)
    return dict(
        config=args.config, checkpoint=args.checkpoint,
        source=None if args.random_init else args.source,
        random_init=bool(args.random_init), data=args.data,
        num_classes=num_classes, img_size=list(img_size),
        feature_map=list(feats['val_feats'].shape[1:]),
        train_patches=int(len(feats['train_labels'])),
        val_images=len(feats['val_labels']), k=args.k,
        metrics=metrics)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    result = dense_probe(args)
    what = 'random init' if args.random_init else (
        f'{args.checkpoint} ({args.source})')
    print(format_table(result['metrics'], f'dense probes of {what} on '
                       f'{args.data} ({result["val_images"]} val images)'))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
