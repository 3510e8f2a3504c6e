"""Evaluate a checkpoint with any config of this repo.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Metrics are printed by the toolkit's evaluator (mmdet CocoMetric, mmseg
IoUMetric, mmpretrain Accuracy) and written as JSON to
``WORK_DIR/test_metrics.json`` (or to ``--out`` when it ends in ``.json``).
``--out FILE.pkl`` dumps the raw predictions instead.
"""
import argparse
import os
import os.path as osp
import sys

# A checkout runs its own gtsa_plugin; an installed copy of this script
# (<package>/.mim/tools/, as mim runs it) imports the installed package.
_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.isfile(osp.join(_ROOT, 'gtsa_plugin', '__init__.py')):
    sys.path.insert(0, _ROOT)

from mmengine.config import DictAction  # noqa: E402

from gtsa_plugin.apis.cli import (build_runner, dump_metrics,  # noqa: E402
                                  load_config, register_toolkit)
from gtsa_plugin.apis.run_checks import check_classes  # noqa: E402

_DUMPERS = {'mmdet': 'mmdet.DumpDetResults'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        help='.json: where to write the metrics; .pkl: dump predictions')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    scope = register_toolkit(cfg)
    # e.g. top-5 accuracy of 4 classes, before the model is built
    check_classes(cfg, evaluators=('test_evaluator', ))
    cfg.load_from = args.checkpoint
    metrics_path = osp.join(cfg.work_dir, 'test_metrics.json')
    if args.out and args.out.endswith('.json'):
        metrics_path = args.out
    elif args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must end in .json, .pkl or .pickle')
        dumper = dict(type=_DUMPERS.get(scope, 'DumpResults'),
                      out_file_path=args.out)
        evaluator = cfg.test_evaluator
        cfg.test_evaluator = (list(evaluator) if isinstance(
            evaluator, (list, tuple)) else [evaluator]) + [dumper]
    runner = build_runner(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        dump_metrics(metrics, metrics_path)
        runner.logger.info(f'metrics written to {metrics_path}')
    return metrics


if __name__ == '__main__':
    main()
