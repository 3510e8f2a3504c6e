"""Training curves from mmengine's JSON scalar logs.

    python tools/analysis/plot_log.py WORK_DIR \
        --keys loss_crop loss_pc loss_rot acc_rot --out curves.png

Reads every ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (one per run of
``tools/train.py`` in that work dir: the first run and each ``--resume``),
in time order, and draws one subplot per key against the iteration.

Runs are joined in time order; where a later run restarts at an iteration
an earlier run already logged (a resume from an older checkpoint), the
later run's values replace the earlier ones from that iteration on, so each
iteration appears once. Dotted vertical lines mark where runs start.
``WORK_DIR`` may also be one run's folder or a ``scalars.json`` itself.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

# Runnable from anywhere: the repo root (two levels up) on the path.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import matplotlib  # noqa: E402

matplotlib.use('Agg')  # files only; never needs a display

#: Figure width and height per subplot (inches), and DPI.
FIG_WIDTH, ROW_HEIGHT, DPI = 8.0, 2.2, 100

Curve = List[Tuple[int, float]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Plot training scalars from mmengine's scalars.json")
    parser.add_argument('work_dir',
                        help='work dir of tools/train.py (or one run folder '
                        'or a scalars.json)')
    parser.add_argument('--keys', nargs='+',
                        default=['loss_crop', 'loss_pc', 'loss_rot',
                                 'acc_rot'],
                        help='scalars to plot, one subplot each')
    parser.add_argument('--out', required=True, help='output image (.png)')
    parser.add_argument('--title', help='figure title (default: work dir)')
    return parser.parse_args(argv)


def find_scalar_files(work_dir: str) -> List[str]:
    """The ``scalars.json`` files under ``work_dir``, oldest run first.

    mmengine names run folders by their start time (``%Y%m%d_%H%M%S``), so
    the name order is the time order; ties cannot happen within one work
    dir, but the modification time breaks them anyway.
    """
    if osp.isfile(work_dir):
        return [work_dir]
    direct = osp.join(work_dir, 'vis_data', 'scalars.json')
    if osp.isfile(direct):
        return [direct]
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    return sorted(files, key=lambda f: (osp.basename(
        osp.dirname(osp.dirname(f))), osp.getmtime(f)))


def read_rows(path: str) -> List[dict]:
    """The JSON lines of one scalars file (a torn last line is skipped:
    the run may still be writing)."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def run_curves(rows: Sequence[dict], keys: Sequence[str]) -> Dict[str, Curve]:
    """``{key: [(iteration, value), ...]}`` of one run. Training rows carry
    ``iter``; rows without it (validation) use their ``step``."""
    curves: Dict[str, Curve] = {k: [] for k in keys}
    for row in rows:
        x = row.get('iter', row.get('step'))
        if x is None:
            continue
        for key in keys:
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value,
                                                                  bool):
                curves[key].append((int(x), float(value)))
    return curves


def merge_runs(runs: Sequence[Dict[str, Curve]],
               keys: Sequence[str]) -> Tuple[Dict[str, Curve], List[int]]:
    """Join runs in time order (see the module docstring).

    Returns:
        ``(curves, starts)``: merged curves and the first iteration of every
        run after the first (where resumes begin).
    """
    merged: Dict[str, Curve] = {k: [] for k in keys}
    starts: List[int] = []
    for n, run in enumerate(runs):
        firsts = [pts[0][0] for pts in run.values() if pts]
        if not firsts:
            continue
        start = min(firsts)
        if n > 0 and any(merged.values()):
            starts.append(start)
        for key in keys:
            kept = [p for p in merged[key] if p[0] < start]
            merged[key] = kept + sorted(run[key])
    return merged, starts


def load_curves(work_dir: str, keys: Sequence[str]
                ) -> Tuple[Dict[str, Curve], List[int], List[str]]:
    """Find, read and merge the runs of ``work_dir``.

    Returns:
        ``(curves, run_starts, files)``.
    """
    files = find_scalar_files(work_dir)
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir}: is it a work dir '
            'of tools/train.py (LocalVisBackend)?')
    runs = [run_curves(read_rows(f), keys) for f in files]
    curves, starts = merge_runs(runs, keys)
    return curves, starts, files


def plot(curves: Dict[str, Curve], starts: Sequence[int], out: str,
         title: str = '') -> None:
    """One subplot per key (in the given order) against the iteration."""
    import matplotlib.pyplot as plt
    keys = list(curves)
    fig, axes = plt.subplots(
        len(keys), 1, sharex=True, squeeze=False,
        figsize=(FIG_WIDTH, ROW_HEIGHT * len(keys) + 0.4), dpi=DPI,
        layout='constrained')
    for ax, key in zip(axes[:, 0], keys):
        points = curves[key]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker='.' if len(xs) < 50 else None,
                    linewidth=1.2)
        else:
            ax.text(0.5, 0.5, f'{key}: not in the logs', ha='center',
                    va='center', transform=ax.transAxes, color='tab:red')
        for x in starts:
            ax.axvline(x, color='gray', linestyle=':', linewidth=1)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel('iteration')
    if title:
        fig.suptitle(title, fontsize=10)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Curve]:
    """Run the tool; returns the plotted curves."""
    args = parse_args(argv)
    curves, starts, files = load_curves(args.work_dir, args.keys)
    missing = [k for k, pts in curves.items() if not pts]
    if len(missing) == len(curves):
        logged = sorted(set(k for f in files for r in read_rows(f)
                            for k in r))
        raise SystemExit(
            f'none of {args.keys} is in {files}; logged keys: {logged}')
    for key in missing:
        print(f'warning: {key} is not in the logs', file=sys.stderr)
    plot(curves, starts, args.out, args.title or osp.basename(
        osp.abspath(args.work_dir)))
    print(f'{len(files)} run(s), {max(len(p) for p in curves.values())} '
          f'points: wrote {args.out}')
    return curves


if __name__ == '__main__':
    main()
