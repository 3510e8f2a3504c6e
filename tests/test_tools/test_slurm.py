"""tools/slurm_train.sh and tools/slurm_test.sh without a cluster.

A stand-in ``srun`` on PATH records its arguments, then runs the command
once as Slurm would run task 0 of 1 (``SLURM_PROCID=0``, ``SLURM_NTASKS=1``,
...). mmengine's Slurm launcher then initialises a one-process gloo group on
the CPU, so the demo really trains and a checkpoint is really evaluated.
"""
import json
import math
import os
import os.path as osp
import stat
import sys

import image_helpers as im
import process_helpers as pr
import pytest
import repo_helpers as rp

pytestmark = pytest.mark.slow

FAKE_SRUN = r'''#!/usr/bin/env bash
# Records srun's arguments (NUL-separated), then runs the command as task 0.
printf '%s\0' "$@" > "$FAKE_SRUN_RECORD"
while [ $# -gt 0 ]; do
    case "$1" in
        -p) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost
exec "$@"
'''


def _srun_env(tmp_path, record):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    return pr.env(
        PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        FAKE_SRUN_RECORD=str(record), PYTHON=sys.executable,
        GPUS='1', GPUS_PER_NODE='8', CPUS_PER_TASK='2',
        SRUN_ARGS='--time=5 --mem=2G', MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(pr.free_port()))


def _recorded(record):
    return record.read_bytes().decode().split('\0')[:-1]


def _srun_options(tool):
    return ['-p', 'part', f'--job-name=job_{tool}', '--gres=gpu:1',
            '--ntasks=1', '--ntasks-per-node=1', '--cpus-per-task=2',
            '--kill-on-bad-exit=1', '--time=5', '--mem=2G', sys.executable,
            '-u', osp.join(rp.REPO_ROOT, 'tools', tool)]


@pytest.fixture(scope='module')
def slurm_train(synthetic_scenes, tmp_path_factory):
    root = tmp_path_factory.mktemp('slurm')
    data = im.tiny_folder(synthetic_scenes['unlabeled'], str(root / 'images'),
                          4)
    # A space in a path: each argument must reach train.py whole (values in
    # --cfg-options cannot hold spaces: mmengine's DictAction drops them).
    work_dir = str(root / 'work dir')
    record = root / 'srun_train.args'
    options = pr.tiny_options(data, epochs=1, batch_size=2,
                              **pr.FEW_CROPS['gtsa'])
    cmd = ['bash', osp.join(rp.REPO_ROOT, 'tools', 'slurm_train.sh'), 'part',
           'job_train.py', rp.GTSA_DEMO, work_dir, '--cfg-options', *options]
    proc = pr.run(cmd, timeout=500, env=_srun_env(root, record))
    return dict(proc=proc, work_dir=work_dir, record=record, root=root,
                options=options)


def test_slurm_train_passes_the_arguments_and_trains(slurm_train):
    proc = slurm_train['proc']
    assert proc.returncode == 0, pr.tail(proc.stdout + proc.stderr)
    args = _recorded(slurm_train['record'])
    head = _srun_options('train.py')
    assert args[:len(head)] == head
    assert args[len(head):] == [
        rp.GTSA_DEMO, f'--work-dir={slurm_train["work_dir"]}',
        '--launcher=slurm', '--cfg-options', *slurm_train['options']]

    out = proc.stdout + proc.stderr
    assert 'Distributed launcher: slurm' in out
    assert 'Distributed training: True' in out
    work_dir = slurm_train['work_dir']
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    rows = pr.read_jsonl(
        next(osp.join(work_dir, d, 'vis_data', 'scalars.json')
             for d in os.listdir(work_dir)
             if osp.isfile(osp.join(work_dir, d, 'vis_data',
                                    'scalars.json'))))
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


def test_slurm_test_evaluates_a_checkpoint(slurm_train, synthetic_scenes):
    """The demo's ViT (96 dims, 4 layers, 8 px patches) evaluated by the
    linear-probe config on the synthetic class folder: a real test run with
    a randomly initialised head, through tools/test.py --launcher slurm."""
    assert slurm_train['proc'].returncode == 0
    root = slurm_train['root']
    record = root / 'srun_test.args'
    ckpt = osp.join(slurm_train['work_dir'], 'epoch_1.pth')
    config = osp.join(
        rp.REPO_ROOT, 'configs', 'downstream', 'mmpretrain',
        'vit-s-p16_linear-probe_8xb512-90e_imagenet-folder.py')
    classes = len(os.listdir(osp.join(synthetic_scenes['root'], 'cls',
                                      'val')))
    options = [
        'model.backbone.arch.embed_dims=96',
        'model.backbone.arch.num_layers=4', 'model.backbone.arch.num_heads=3',
        'model.backbone.arch.feedforward_channels=384',
        'model.backbone.patch_size=8', 'model.backbone.img_size=96',
        'model.backbone.frozen_stages=4',
        'model.neck.input_features=96', 'model.head.in_channels=96',
        f'model.head.num_classes={classes}',
        'test_dataloader.dataset.pipeline.1.scale=110',
        'test_dataloader.dataset.pipeline.2.crop_size=96',
        f'test_dataloader.dataset.data_root={synthetic_scenes["root"]}/cls',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'test_evaluator.topk=(1,)'
    ]
    test_dir = str(root / 'test dir')
    cmd = ['bash', osp.join(rp.REPO_ROOT, 'tools', 'slurm_test.sh'), 'part',
           'job_test.py', config, ckpt, '--work-dir', test_dir,
           '--cfg-options', *options]
    proc = pr.run(cmd, timeout=300, env=_srun_env(root, record))
    assert proc.returncode == 0, pr.tail(proc.stdout + proc.stderr)
    args = _recorded(record)
    head = _srun_options('test.py')
    assert args[:len(head)] == head
    assert args[len(head):] == [config, ckpt, '--launcher=slurm',
                                '--work-dir', test_dir, '--cfg-options',
                                *options]
    assert 'Distributed launcher: slurm' in proc.stdout + proc.stderr
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert 0 <= metrics['accuracy/top1'] <= 100


def test_missing_arguments_name_the_usage(tmp_path):
    for tool in ('slurm_train.sh', 'slurm_test.sh'):
        proc = pr.run(['bash', osp.join(rp.REPO_ROOT, 'tools', tool), 'p',
                       'j', 'cfg.py'], timeout=30)
        assert proc.returncode == 2
        assert 'usage:' in proc.stderr and 'PARTITION JOB_NAME CONFIG' in \
            proc.stderr
