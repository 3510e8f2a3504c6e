"""Kill and resume: a run SIGKILLed after its epoch-1 checkpoint and resumed
with ``--resume`` ends exactly where the uninterrupted run ends: same
student, teacher, EMA step count, optimiser state, scheduler state,
loss-weight schedule and data order (CPU, ``randomness.deterministic``).

What makes it so: mmengine restores weights, optimiser, schedulers and the
message hub (epoch -> GTSA's ``loss_pc`` warm-up, DINO's teacher
temperature and last-layer freeze), DINO's centre and the EMA ``steps`` are
buffers in the state dict, and :class:`EpochSeedHook` reseeds the model's
RNG and every sample's augmentation from ``(seed, epoch[, index])``, which
mmengine does not save. Without that hook the resumed epoch draws other
crops (other RNG history; with persistent workers a reseeded worker) and
these tests fail.
"""
from __future__ import annotations

import os.path as osp
import signal
import threading
from typing import Dict

import image_helpers as im
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch

from gtsa_plugin.utils.checkpoint import safe_load

pytestmark = pytest.mark.slow

EPOCHS, ITERS_PER_EPOCH = 2, 2
CASES = {
    # persistent forked workers: per-sample seeding must reach them
    'gtsa': dict(config=rp.GTSA_DEMO, num_workers=2,
                 options={'model.pc_warmup_epochs': 1, **pr.FEW_CROPS['gtsa']},
                 schedule='loss_pc'),
    # main-process loading: the global RNGs must be reseeded per epoch
    'dino': dict(config=rp.DINO_DEMO, num_workers=0,
                 options={'model.head.warmup_teacher_temp': 0.02,
                          'model.head.warmup_teacher_temp_epochs': 2,
                          **pr.FEW_CROPS['dino']},
                 schedule='teacher_temp'),
}


def _kill_after_epoch_1(proc, work_dir: str, result: dict) -> None:
    """SIGKILL ``proc`` as soon as its epoch-1 checkpoint is complete and
    named by ``last_checkpoint`` (atomic writes: existence = complete)."""
    last = osp.join(work_dir, 'last_checkpoint')

    def ready():
        if not osp.isfile(last):
            return False
        with open(last) as f:
            return f.read().strip().endswith('epoch_1.pth')

    result['saw_checkpoint'] = pr.wait_for(ready, timeout=400, proc=proc)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)


@pytest.fixture(scope='module')
def runs(synthetic_scenes, tmp_path_factory) -> Dict[str, dict]:
    """Per algorithm: the uninterrupted run (in this process) and, at the
    same time, a run in its own process that is SIGKILLed after epoch 1,
    then resumed (``--resume``, in this process) to the end."""
    root = tmp_path_factory.mktemp('resume')
    data = im.tiny_folder(synthetic_scenes['unlabeled'], str(root / 'data'),
                          4 * ITERS_PER_EPOCH)
    out = {}
    for name, case in CASES.items():
        config = pr.write_config(
            str(root / f'{name}.py'), case['config'],
            "custom_hooks = _base_.custom_hooks + "
            "[dict(type='RankConsistencyHook')]")
        options = pr.tiny_options(data, epochs=EPOCHS,
                                  num_workers=case['num_workers'],
                                  **case['options'])
        straight, killed = str(root / f'{name}_straight'), str(
            root / f'{name}_killed')
        proc = pr.popen(pr.train_cmd(config, killed, options),
                        str(root / f'{name}_killed.log'))
        watch: dict = {}
        watcher = threading.Thread(target=_kill_after_epoch_1,
                                   args=(proc, killed, watch))
        watcher.start()
        try:
            ip.train_in_process(config, straight, options)
        finally:
            watcher.join()
            killed_proc = pr.finish(proc)
        assert watch['saw_checkpoint'], pr.tail(killed_proc.stdout)
        assert killed_proc.returncode == -signal.SIGKILL, \
            pr.tail(killed_proc.stdout)
        assert not osp.exists(osp.join(killed, f'epoch_{EPOCHS}.pth'))
        ip.train_in_process(config, killed, options, '--resume')
        out[name] = dict(straight=straight, resumed=killed, **case)
    return out


def _by_iter(rows, key='iter'):
    # A killed run may have logged iterations past its checkpoint; the
    # resumed run's rows come later and win.
    return {r[key]: r for r in rows if key in r}


def _assert_same(a, b, where=''):
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=where)
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{where}[{i}]')
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7), where
    else:
        assert a == b, where


@pytest.mark.parametrize('name', list(CASES))
def test_resumed_run_was_resumed_from_epoch_1(runs, name):
    log = pr.logs(runs[name]['resumed'])
    assert 'resumed epoch: 1, iter: 2' in log


@pytest.mark.parametrize('name', list(CASES))
def test_weights_teacher_ema_steps_and_optimiser_match(runs, name):
    ckpt = {k: safe_load(osp.join(runs[name][k], f'epoch_{EPOCHS}.pth'))
            for k in ('straight', 'resumed')}
    a, b = ckpt['straight'], ckpt['resumed']
    steps = int(a['state_dict']['target_net.steps'])
    # GTSA updates its teacher in every forward; DINO syncs it once at
    # build (steps=1) and then after every optimiser step.
    assert steps == EPOCHS * ITERS_PER_EPOCH + (name == 'dino')
    assert any(k.startswith('target_net.module.0.') for k in a['state_dict'])
    assert any(k.startswith('backbone.') for k in a['state_dict'])
    _assert_same(a['state_dict'], b['state_dict'], 'state_dict')
    _assert_same(a['optimizer'], b['optimizer'], 'optimizer')
    _assert_same(a['param_schedulers'], b['param_schedulers'],
                 'param_schedulers')
    assert a['meta']['epoch'] == b['meta']['epoch'] == EPOCHS
    assert a['meta']['iter'] == b['meta']['iter'] == EPOCHS * ITERS_PER_EPOCH


@pytest.mark.parametrize('name', list(CASES))
def test_data_order_augmentations_and_schedule_match(runs, name):
    run = runs[name]
    sync = {k: _by_iter([r for r in pr.read_jsonl(
        osp.join(run[k], 'rank_sync.jsonl')) if not r.get('final')])
            for k in ('straight', 'resumed')}
    iters = range(1, EPOCHS * ITERS_PER_EPOCH + 1)
    for it in iters:
        a = sync['straight'][it]['ranks'][0]
        b = sync['resumed'][it]['ranks'][0]
        assert a['data'] == b['data'], f'iteration {it}: data order'
        # Same batch, same crops, same drop-path masks: the same update.
        for group in ('teacher', 'student', 'state'):
            assert a[group]['sum'] == pytest.approx(b[group]['sum'],
                                                    rel=1e-6), (it, group)
    epoch_orders = [[sync['straight'][it]['ranks'][0]['data']
                     for it in iters if (it - 1) // ITERS_PER_EPOCH == e]
                    for e in range(EPOCHS)]
    assert epoch_orders[0] != epoch_orders[1]  # shuffling is exercised

    rows = {k: _by_iter([r for r in pr.scalars(run[k]) if 'loss' in r])
            for k in ('straight', 'resumed')}
    key = run['schedule']
    for it in iters:
        a, b = rows['straight'][it], rows['resumed'][it]
        for k in ('loss', key):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (it, k)
    first, last = rows['straight'][1][key], rows['straight'][iters[-1]][key]
    assert first != last  # the schedule really changes across the resume
