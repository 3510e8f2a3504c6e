"""The DINO demo config through the real CLI (tools/train.py), then
``--resume``."""
import glob
import json
import os.path as osp
import time

import pytest
import torch
from repo_helpers import load_tool

from gtsa_plugin.datasets.synthetic import generate_synthetic_scenes

CONFIG = 'configs/dino_vit-tiny_demo.py'


def _load_cli(repo_root):
    """tools/train.py as a module, so that its ``main(argv)`` runs in this
    process: the same code path as the command line without paying the
    toolkit imports twice more (the suite must stay fast on 2 busy cores)."""
    return load_tool('tools/train.py')


def _train(repo_root, work_dir, data_root, epochs, *extra, options=()):
    argv = [
        osp.join(repo_root, CONFIG), '--work-dir', str(work_dir), *extra,
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', 'model.backbone.arch.num_layers=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
        # No lr warm-up: with one iteration per epoch mmengine's chained
        # schedulers would keep the lr at the warm-up's start value.
        'param_scheduler.0.start_factor=1.0', *options
    ]
    started = time.time()
    _load_cli(repo_root).main(argv)
    # mmengine names a run (logger, message hub, visualizer instances) by
    # its start second: keep the next run in this process distinct.
    time.sleep(max(0.0, 1.1 - (time.time() - started)))


def _scalars(work_dir):
    rows = []
    for path in sorted(glob.glob(f'{work_dir}/*/vis_data/scalars.json')):
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    return [r for r in rows if 'agreement' in r]


def _state(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def _part(sd, prefix):
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


@pytest.mark.slow
def test_demo_trains_two_epochs_then_resumes(repo_root, tmp_path):
    # 3 training scenes (1 goes to the validation split): one iteration of
    # 2 images per epoch (drop_last).
    scenes = generate_synthetic_scenes(
        str(tmp_path / 'scenes'), num_images=4, image_size=(128, 96))
    data_root = scenes['unlabeled']
    work_dir = tmp_path / 'work'
    _train(repo_root, work_dir, data_root, 2)

    rows = _scalars(work_dir)
    iters_per_epoch = len([r for r in rows if r['epoch'] == 1])
    assert iters_per_epoch >= 1
    assert len(rows) == 2 * iters_per_epoch
    for r in rows:
        for key in ('loss', 'teacher_temp', 'agreement'):
            assert torch.isfinite(torch.tensor(r[key]))
        assert r['teacher_temp'] == pytest.approx(0.04)
        assert 0 <= r['agreement'] <= 1

    ep1 = _state(work_dir / 'epoch_1.pth')['state_dict']
    ep2 = _state(work_dir / 'epoch_2.pth')['state_dict']
    assert int(ep2['target_net.steps']) == 1 + 2 * iters_per_epoch
    # Epoch 0 froze the prototypes: the student's still equal the
    # teacher's (an EMA of identical values), unlike the rest.
    last = 'last_layer.parametrizations.weight.original1'
    assert torch.allclose(ep1[f'neck.{last}'],
                          ep1[f'target_net.module.1.{last}'], atol=1e-6)
    assert not torch.allclose(ep2[f'neck.{last}'],
                              ep2[f'target_net.module.1.{last}'], atol=1e-6)
    assert not torch.allclose(ep1['backbone.cls_token'],
                              ep1['target_net.module.0.cls_token'], atol=1e-6)
    assert not torch.equal(ep1['head.center'], ep2['head.center'])

    # Resume for one more epoch with the teacher and centre (nearly)
    # frozen: they can then only equal epoch 2's if they were restored from
    # it, not re-initialised. (mmengine's EMA refuses momentum 0.)
    _train(repo_root, work_dir, data_root, 3, '--resume',
           options=('model.base_momentum=1e-9',
                    'model.head.center_momentum=1.0'))
    rows = _scalars(work_dir)
    assert max(r['epoch'] for r in rows) == 3
    assert max(r['iter'] for r in rows) == 3 * iters_per_epoch
    ckpt = _state(work_dir / 'epoch_3.pth')
    ep3 = ckpt['state_dict']
    assert ckpt['meta']['epoch'] == 3
    assert ckpt['meta']['iter'] == 3 * iters_per_epoch
    assert int(ep3['target_net.steps']) == 1 + 3 * iters_per_epoch
    teacher2, teacher3 = (_part(sd, 'target_net.module.') for sd in (ep2, ep3))
    assert teacher2.keys() == teacher3.keys()
    for key in teacher2:
        assert torch.allclose(teacher2[key], teacher3[key], atol=1e-7,
                              rtol=0), key
    assert torch.equal(ep2['head.center'], ep3['head.center'])
    # ... while the student did train on.
    assert not torch.equal(ep2['backbone.cls_token'],
                           ep3['backbone.cls_token'])
