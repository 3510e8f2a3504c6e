"""The GTSA demo config through the real CLI (tools/train.py)."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch


def _train(repo_root, work_dir, data_root, epochs, *extra):
    cmd = [
        sys.executable, osp.join(repo_root, 'tools/train.py'),
        osp.join(repo_root, 'configs/gtsa_vit-tiny_demo.py'),
        '--work-dir', str(work_dir), *extra, '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=6', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', 'model.pc_warmup_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _scalars(work_dir):
    rows = []
    for path in sorted(glob.glob(f'{work_dir}/*/vis_data/scalars.json')):
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    return [r for r in rows if 'loss_pc' in r]


@pytest.mark.slow
def test_demo_trains_two_epochs_then_resumes(repo_root, synthetic_scenes,
                                             tmp_path):
    work_dir = tmp_path / 'work'
    data_root = synthetic_scenes['unlabeled']
    _train(repo_root, work_dir, data_root, 2)

    rows = _scalars(work_dir)
    epoch0 = [r for r in rows if r['epoch'] == 1]  # mmengine logs 1-based
    epoch1 = [r for r in rows if r['epoch'] == 2]
    assert epoch0 and epoch1
    assert all(r['loss_pc'] == 0 for r in epoch0)
    assert all(r['loss_pc'] < 0 for r in epoch1)
    for r in rows:
        # grad_norm: the clipping's device tensor, logged after the step
        for key in ('loss', 'loss_crop', 'loss_rot', 'acc_rot', 'grad_norm'):
            assert torch.isfinite(torch.tensor(r[key]))
    assert osp.isfile(work_dir / 'epoch_2.pth')
    iters_per_epoch = len(epoch0)

    ckpt = torch.load(work_dir / 'epoch_2.pth', map_location='cpu')
    sd = ckpt['state_dict']
    assert any(k.startswith('target_net.module.0.') for k in sd)
    assert any(k.startswith('backbone.') for k in sd)
    assert int(sd['target_net.steps']) == 2 * iters_per_epoch

    _train(repo_root, work_dir, data_root, 3, '--resume')
    rows = _scalars(work_dir)
    assert max(r['epoch'] for r in rows) == 3
    assert max(r['iter'] for r in rows) == 3 * iters_per_epoch
    resumed = torch.load(work_dir / 'epoch_3.pth', map_location='cpu')
    assert int(resumed['state_dict']['target_net.steps']) == \
        3 * iters_per_epoch
    assert resumed['meta']['epoch'] == 3
