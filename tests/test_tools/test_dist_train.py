"""Two processes on CPU (gloo) through ``tools/dist_train.sh``: the GTSA and
DINO demos keep their ranks in sync (identical student and teacher after
every iteration), DINO's centre is all-reduced (identical on ranks that saw
different images), and the checkpoint holds exactly rank 0's state.

A :class:`RankConsistencyHook`, added by a config that inherits the demo,
gathers per-rank digests of the state into ``work_dir/rank_sync.jsonl``.
"""
from __future__ import annotations

import os.path as osp

import image_helpers as im
import process_helpers as pr
import pytest
import repo_helpers as rp

from gtsa_plugin.engine.hooks import state_digest
from gtsa_plugin.utils.checkpoint import safe_load

pytestmark = pytest.mark.slow

ITERS = 2  # 8 images, 2 ranks x 2 per rank (a global batch of 4)
DEMOS = {'gtsa': rp.GTSA_DEMO, 'dino': rp.DINO_DEMO}


@pytest.fixture(scope='module')
def runs(synthetic_scenes, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp('dist')
    data = im.tiny_folder(synthetic_scenes['unlabeled'], str(root / 'data'),
                          8)
    out = {}
    for name, demo in DEMOS.items():
        config = pr.write_config(
            str(root / f'{name}.py'), demo,
            "custom_hooks = _base_.custom_hooks + "
            "[dict(type='RankConsistencyHook')]")
        work_dir = str(root / name)
        options = pr.tiny_options(data, epochs=1, batch_size=2,
                                  **pr.FEW_CROPS[name])
        cmd = ['bash', osp.join(rp.REPO_ROOT, 'tools', 'dist_train.sh'),
               config, '2', '--work-dir', work_dir, '--cfg-options', *options]
        # One thread per rank: two ranks share the two cores.
        proc = pr.run(cmd, timeout=500, env=pr.env(
            PORT=str(pr.free_port()), OMP_NUM_THREADS='1',
            MKL_NUM_THREADS='1'))
        assert proc.returncode == 0, pr.tail(proc.stdout + proc.stderr)
        records = pr.read_jsonl(osp.join(work_dir, 'rank_sync.jsonl'))
        out[name] = dict(work_dir=work_dir, records=records)
    return out


@pytest.mark.parametrize('name', list(DEMOS))
def test_ranks_stay_in_sync(runs, name):
    steps = [r for r in runs[name]['records'] if not r.get('final')]
    assert [r['iter'] for r in steps] == list(range(1, ITERS + 1))
    for record in steps:
        rank0, rank1 = record['ranks']
        assert (rank0['rank'], rank1['rank']) == (0, 1)
        # DistributedSampler: each rank trains on its own images ...
        assert set(rank0['data']).isdisjoint(rank1['data'])
        # ... and still holds the same weights, bit for bit.
        for group in ('teacher', 'student', 'state'):
            assert rank0[group]['sha256'] == rank1[group]['sha256'], \
                (record['iter'], group)


def test_dino_center_is_all_reduced(runs):
    """Each rank's batch mean differs; only a cross-rank reduction gives
    both ranks the same centre."""
    for record in runs['dino']['records']:
        if record.get('final'):
            continue
        rank0, rank1 = record['ranks']
        assert rank0['center']['sha256'] == rank1['center']['sha256']
        assert rank0['center']['sum'] != 0.0  # it moved


@pytest.mark.parametrize('name', list(DEMOS))
def test_checkpoint_is_rank_0_state(runs, name):
    final = [r for r in runs[name]['records'] if r.get('final')][-1]
    rank0 = final['ranks'][0]
    ckpt = safe_load(osp.join(runs[name]['work_dir'], 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == ITERS
    assert state_digest(ckpt['state_dict'])['sha256'] == \
        rank0['state']['sha256']
