"""Train any config of this repo (GTSA/DINO pretraining, mmdet, mmseg and
mmpretrain downstream) with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]]
        [--precision fp32|fp16|bf16 | --amp] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm|mpi]

Without ``--precision`` the config's optim wrapper decides; on a machine
without a GPU a config that asks for fp16/bf16 trains in fp32 (one warning).
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

from gtsa_plugin.apis.cli import (apply_resume, build_runner,  # noqa: E402
                                  load_config, preflight,
                                  register_toolkit,
                                  shutdown_distributed,
                                  stop_dataloader_workers)
from gtsa_plugin.apis.precision import (PRECISIONS,  # noqa: E402
                                        apply_precision)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the latest checkpoint in the work_dir, or from '
        'the given checkpoint path')
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default=None,
        help='fp32, fp16 (AMP with loss scaling) or bf16 (AMP, bfloat16); '
        'fp16/bf16 need a GPU. Default: what the config\'s optim_wrapper '
        'asks for, fp32 on machines without a GPU')
    parser.add_argument(
        '--amp', action='store_true', help='same as --precision fp16')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, e.g. '
        'train_dataloader.dataset.data_root=DIR')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.amp and args.precision not in (None, 'fp16'):
        parser.error(f'--amp (fp16) contradicts --precision {args.precision}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    register_toolkit(cfg)
    # Before anything is built: fp16/bf16 without a GPU fails here.
    if args.amp:
        apply_precision(cfg, 'fp16', switch='--amp')
    else:
        apply_precision(cfg, args.precision)
    apply_resume(cfg, args.resume)
    preflight(cfg)  # e.g. a missing data folder, before the model is built
    runner = build_runner(cfg)
    runner.train()
    stop_dataloader_workers(runner)
    del runner  # release the DDP-wrapped model before its process group
    shutdown_distributed()


if __name__ == '__main__':
    main()
