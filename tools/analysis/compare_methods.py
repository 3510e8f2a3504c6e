"""GTSA vs DINO at a size one machine affords: pretrain both, probe both.

    python tools/analysis/compare_methods.py --out-dir work_dirs/compare \
        [--num-images 128] [--epochs 8] [--seeds 0 1 2] [--batch-size 16]

1. Writes synthetic scenes (``gtsa_plugin.datasets.synthetic``) once.
2. For every seed, pretrains ``configs/gtsa_vit-tiny_demo.py`` and
   ``configs/dino_vit-tiny_demo.py`` on the same training scenes with the
   same seed and schedule through ``tools/train.py`` (mmengine's Runner; a
   subprocess each, or in this process with ``--in-process``). A run whose
   last checkpoint exists is not repeated, so an interrupted comparison
   resumes where it stopped.
3. Probes each teacher and the random-init backbone of the same seed
   (the floor): dense linear and k-NN segmentation on the ADE layout
   (``gtsa_plugin.evaluation.dense_probe``) and a linear probe on object
   crops (``gtsa_plugin.evaluation.crop_probe``).
4. Writes ``results.json`` (every run), ``table.md`` (mean +- std over
   seeds) and ``comparison.png``, updated after every run.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402

CONFIGS = {
    'gtsa': 'configs/gtsa_vit-tiny_demo.py',
    'dino': 'configs/dino_vit-tiny_demo.py',
}
METRICS = [  # (key, column title); obj = mIoU over object classes only
    ('linear_mIoU', 'dense linear mIoU'), ('linear_aAcc', 'dense linear aAcc'),
    ('linear_obj', 'dense linear obj. mIoU'),
    ('knn_mIoU', 'dense k-NN mIoU'), ('knn_aAcc', 'dense k-NN aAcc'),
    ('knn_obj', 'dense k-NN obj. mIoU'), ('crop_top1', 'crop linear top-1'),
]
NAMES = {'random': 'random init', 'gtsa': 'GTSA', 'dino': 'DINO'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out-dir', required=True)
    p.add_argument('--methods', nargs='+', choices=sorted(CONFIGS),
                   default=['gtsa', 'dino'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--num-images', type=int, default=128,
                   help='scenes; 1/4 are the probes\' val split')
    p.add_argument('--image-size', type=int, nargs=2, default=[256, 192],
                   metavar=('W', 'H'))
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--k', type=int, default=20, help='k-NN neighbours')
    p.add_argument('--max-train-patches', type=int, default=50_000)
    p.add_argument('--in-process', action='store_true',
                   help='run tools/train.py in this process (tests)')
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error('--epochs must be >= 2 (1 warm-up epoch, then cosine)')
    return args


def _train_tool():
    spec = importlib.util.spec_from_file_location(
        'compare_train_tool', osp.join(REPO_ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pretrain(method: str, seed: int, args: argparse.Namespace,
             data_root: str) -> Dict[str, object]:
    """Train one method/seed unless its checkpoint exists; returns
    ``ckpt`` and ``wall_s`` (None when reused)."""
    work_dir = osp.join(args.out_dir, 'runs', f'{method}_seed{seed}')
    ckpt = osp.join(work_dir, f'epoch_{args.epochs}.pth')
    timing = osp.join(work_dir, 'pretrain_wall_s.json')
    if osp.isfile(ckpt):
        wall = None
        if osp.isfile(timing):
            with open(timing) as f:
                wall = json.load(f)['wall_s']
        return dict(ckpt=ckpt, wall_s=wall)
    e = args.epochs
    options = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'train_dataloader.batch_size={args.batch_size}',
        f'train_dataloader.num_workers={args.workers}',
        f'train_dataloader.persistent_workers={args.workers > 0}',
        f'randomness.seed={seed}', f'train_cfg.max_epochs={e}',
        # The demo's schedules are written for its 12 epochs: refit them.
        f'param_scheduler.1.T_max={max(e - 1, 1)}',
        f'param_scheduler.1.end={e}', f'param_scheduler.2.T_max={e}',
        f'param_scheduler.2.end={e}',
        f'default_hooks.checkpoint.interval={e}',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ]
    argv = [osp.join(REPO_ROOT, CONFIGS[method]), '--work-dir', work_dir,
            '--cfg-options'] + options
    start = time.time()
    if args.in_process:
        _train_tool().main(argv)
    else:
        os.makedirs(work_dir, exist_ok=True)
        with open(osp.join(work_dir, 'stdout.log'), 'w') as log:
            proc = subprocess.run(
                [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py')] +
                argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f'pretraining {method} seed {seed} failed; '
                               f'see {work_dir}/stdout.log')
    if not osp.isfile(ckpt):
        raise RuntimeError(f'{ckpt} was not written')
    wall = round(time.time() - start, 1)
    with open(timing, 'w') as f:
        json.dump(dict(wall_s=wall), f)
    return dict(ckpt=ckpt, wall_s=wall)


def probe(config: str, ckpt: Optional[str], seed: int, paths: dict,
          args: argparse.Namespace) -> Dict[str, float]:
    """Dense (linear, k-NN) and crop probes of one backbone."""
    from mmengine.config import Config

    from gtsa_plugin.evaluation.crop_probe import crop_linear_probe
    from gtsa_plugin.evaluation.dense_probe import run_dense_probes
    from gtsa_plugin.evaluation.frozen_features import (
        build_frozen_backbone, cache_key, cached_features, extract_features)

    cfg = Config.fromfile(config)
    backbone = build_frozen_backbone(cfg, ckpt, 'teacher', seed)
    ade = osp.join(paths['root'], 'ade')
    k = len(paths['classes']['ade'])
    img_size = tuple(args.image_size)
    opts = dict(num_classes=k, img_size=list(img_size), seed=seed,
                max_train_patches=args.max_train_patches)
    feats = cached_features(
        osp.join(args.out_dir, 'feature_cache'),
        cache_key(config, ckpt, 'teacher', ade, opts) + f'_s{seed}',
        lambda: extract_features(backbone, cfg, ade, k, img_size,
                                 max_train_patches=args.max_train_patches,
                                 seed=seed, progress=False))
    dense = run_dense_probes(feats, linear=dict(seed=seed),
                             knn=dict(k=args.k))
    crops = crop_linear_probe(backbone, cfg, osp.join(paths['root'], 'cls'),
                              seed=seed)
    out = {f'{p}_{m}': dense[p][m] for p in dense for m in ('mIoU', 'aAcc')}
    n_stuff = k - len(paths['classes']['coco'])
    for p in dense:
        obj = [v for v in dense[p]['IoU'][n_stuff:] if v is not None]
        out[f'{p}_obj'] = float(np.mean(obj)) if obj else float('nan')
        out[f'{p}_IoU'] = dense[p]['IoU']
    out['crop_top1'] = crops['top1']
    return out


def summarise(runs: List[dict]) -> Dict[str, Dict[str, List[float]]]:
    """``{method: {metric: [value per seed]}}``."""
    table: Dict[str, Dict[str, List[float]]] = {}
    for run in runs:
        row = table.setdefault(run['method'], {})
        for key, _ in METRICS:
            row.setdefault(key, []).append(run['metrics'][key])
        if run.get('wall_s') is not None:
            row.setdefault('wall_s', []).append(run['wall_s'])
    return table


def markdown_table(table: dict) -> str:
    head = ['method', 'seeds'] + [t for _, t in METRICS] + [
        'pretrain wall (s/run)']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for method in ('random', 'dino', 'gtsa'):
        if method not in table:
            continue
        row = table[method]
        n = len(row[METRICS[0][0]])
        cells = [NAMES[method], str(n)]
        for key, _ in METRICS:
            v = np.asarray(row[key])
            cells.append(
                f'{v.mean():.1f} ± {v.std(ddof=1) if n > 1 else 0:.1f}')
        wall = row.get('wall_s')
        cells.append(f'{np.mean(wall):.0f}' if wall else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot(table: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    methods = [m for m in ('random', 'dino', 'gtsa') if m in table]
    keys = [(k, t) for k, t in METRICS if 'aAcc' not in k]
    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=100)
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        vals = [np.asarray(table[m][k]) for k, _ in keys]
        ax.bar(np.arange(len(keys)) + i * width, [v.mean() for v in vals],
               width, yerr=[v.std(ddof=1) if len(v) > 1 else 0 for v in vals],
               label=NAMES[m], capsize=3)
    ax.set_xticks(np.arange(len(keys)) + width * (len(methods) - 1) / 2)
    ax.set_xticklabels([t.replace(' m', '\nm').replace(' top', '\ntop')
                        for _, t in keys], fontsize=8)
    ax.set_ylabel('% (mean ± std over seeds)')
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return (f'{platform.machine()} {platform.processor() or ""}, '
            f'{os.cpu_count()} cores, load {load:.1f}, '
            f'Python {platform.python_version()}').replace(' ,', ',')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    import gtsa_plugin  # noqa: F401
    from gtsa_plugin.datasets.synthetic import ensure_synthetic_scenes

    os.makedirs(args.out_dir, exist_ok=True)
    start = time.time()
    paths = ensure_synthetic_scenes(
        osp.join(args.out_dir, 'data'), num_images=args.num_images, seed=0,
        image_size=tuple(args.image_size))
    results_path = osp.join(args.out_dir, 'results.json')
    runs: List[dict] = []
    if osp.isfile(results_path):
        with open(results_path) as f:
            runs = json.load(f)['runs']
    done = {(r['method'], r['seed']) for r in runs}
    for seed in args.seeds:
        for method in ['random'] + list(args.methods):
            if (method, seed) in done:
                continue
            init_default_scope('mmpretrain')
            config = osp.join(REPO_ROOT, CONFIGS.get(method, CONFIGS['gtsa']))
            run = dict(method=method, seed=seed, wall_s=None, ckpt=None)
            if method != 'random':
                run.update(pretrain(method, seed, args, paths['unlabeled']))
                init_default_scope('mmpretrain')
            t0 = time.time()
            run['metrics'] = probe(config, run['ckpt'], seed, paths, args)
            run['probe_s'] = round(time.time() - t0, 1)
            runs.append(run)
            print(f'{NAMES[method]} seed {seed}: ' + ', '.join(
                f'{k}={run["metrics"][k]:.1f}' for k, _ in METRICS),
                flush=True)
            table = summarise(runs)
            summary = dict(args=vars(args), machine=machine(),
                           wall_s=round(time.time() - start, 1), runs=runs)
            with open(results_path, 'w') as f:
                json.dump(summary, f, indent=1)
            with open(osp.join(args.out_dir, 'table.md'), 'w') as f:
                f.write(markdown_table(table))
            plot(table, osp.join(args.out_dir, 'comparison.png'))
    print(markdown_table(summarise(runs)))
    print(f'total wall time {time.time() - start:.0f} s on {machine()}')
    return summarise(runs)


if __name__ == '__main__':
    main()
