"""Checkpoint writes are atomic: a process killed while saving leaves the
previous checkpoint and ``last_checkpoint`` loadable, and ``--resume``
continues from them (gtsa_plugin.patches.mmengine_checkpoint, applied on
import)."""
from __future__ import annotations

import os
import signal
import textwrap

import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch
from mmengine.hooks import CheckpointHook

from gtsa_plugin.engine.hooks import AtomicCheckpointHook
from gtsa_plugin.utils.atomic_save import atomic_save_checkpoint, atomic_write
from gtsa_plugin.utils.checkpoint import safe_load

# A real Runner training a model with a large buffer (its checkpoints take
# a while to write, so a kill lands inside a save), registered by the
# config's custom_imports in the child process as in this one.
TOY_MODULE = '''
import torch
from mmengine.model import BaseModel
from mmpretrain.registry import DATASETS, MODELS
from torch.utils.data import Dataset


@MODELS.register_module()
class BallastToyModel(BaseModel):
    def __init__(self, ballast_mb=64):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.register_buffer('ballast', torch.ones(ballast_mb * 2**18))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=(out ** 2).mean()) if mode == 'loss' else out


@DATASETS.register_module()
class ToyVectors(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((4, ), float(i)))
'''

TOY_CONFIG = '''
default_scope = 'mmpretrain'
custom_imports = dict(imports=['gtsa_plugin', 'ballast_toy'],
                      allow_failed_imports=False)
model = dict(type='BallastToyModel', ballast_mb=64)
train_dataloader = dict(
    batch_size=4, num_workers=0, dataset=dict(type='ToyVectors'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'))
train_cfg = dict(by_epoch=True, max_epochs=3)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
# max_keep_ckpts=1: mmengine itself deletes the previous checkpoint BEFORE
# writing the next one, so a kill mid-save would leave none.
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
'''


def test_installed_for_mmengine_and_every_scope():
    import mmengine.runner
    import mmengine.runner.checkpoint
    import mmengine.runner.runner
    from mmengine.registry import HOOKS as ROOT_HOOKS
    from mmpretrain.registry import HOOKS
    for module in (mmengine.runner, mmengine.runner.checkpoint,
                   mmengine.runner.runner):
        assert module.save_checkpoint is atomic_save_checkpoint
    for registry in (ROOT_HOOKS, HOOKS):
        hook = registry.build(dict(type='CheckpointHook', interval=1))
        assert isinstance(hook, AtomicCheckpointHook)
        assert isinstance(hook, CheckpointHook)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save({'v': 1}, path)
    with pytest.raises(RuntimeError):
        with atomic_write(str(path)) as f:
            f.write(b'half a checkpoint')
            raise RuntimeError('killed')
    assert torch.load(path)['v'] == 1
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_stale_temporaries_of_dead_writers_are_cleaned(tmp_path):
    dead = tmp_path / '.epoch_2.pth.tmp-999999999-abcd'  # no such pid
    alive = tmp_path / f'.epoch_2.pth.tmp-{os.getppid()}-abcd'
    dead.write_bytes(b'x')
    alive.write_bytes(b'x')
    atomic_save_checkpoint({'v': 2}, str(tmp_path / 'epoch_2.pth'))
    assert not dead.exists() and alive.exists()
    assert safe_load(str(tmp_path / 'epoch_2.pth'))['v'] == 2


@pytest.mark.slow
def test_kill_during_save_then_resume(tmp_path, monkeypatch):
    """A training process is SIGKILLed the moment its epoch-2 checkpoint
    starts to appear on disk (its temporary file or, without atomic saving,
    the checkpoint itself): epoch 1 and ``last_checkpoint`` survive,
    nothing named like a checkpoint is partial, and ``--resume`` continues
    from epoch 1 to the end."""
    pkg = tmp_path / 'pkg'
    pkg.mkdir()
    (pkg / 'ballast_toy.py').write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(pkg))
    config = tmp_path / 'toy.py'
    config.write_text(textwrap.dedent(TOY_CONFIG))
    work_dir = tmp_path / 'work'
    env = pr.env(PYTHONPATH=os.pathsep.join([rp.REPO_ROOT, str(pkg)]))
    proc = pr.popen(pr.train_cmd(str(config), str(work_dir)),
                    str(tmp_path / 'killed.log'), env=env)
    last = work_dir / 'last_checkpoint'
    try:
        assert pr.wait_for(lambda: last.is_file(), 400, proc)
        assert pr.wait_for(
            lambda: any('epoch_2' in n for n in os.listdir(work_dir)), 400,
            proc, interval=0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        killed = pr.finish(proc)
    assert killed.returncode == -signal.SIGKILL, pr.tail(killed.stdout)

    epoch_1 = str(work_dir / 'epoch_1.pth')
    assert last.read_text().strip() == 'epoch_1.pth'  # in the work dir
    ckpt = safe_load(epoch_1)
    assert ckpt['meta']['epoch'] == 1
    assert ckpt['state_dict']['ballast'].numel() == 64 * 2**18
    for name in os.listdir(work_dir):  # a complete file or none at all
        if name.endswith('.pth'):
            safe_load(str(work_dir / name))
    # A second name for the current file: an in-place rewrite would change
    # what it shows, a rename over `last_checkpoint` does not.
    os.link(last, tmp_path / 'last_checkpoint.before')

    ip.train_in_process(str(config), str(work_dir), (), '--resume')
    log = pr.logs(str(work_dir))
    assert f'Auto resumed from the latest checkpoint {epoch_1}' in log
    assert 'resumed epoch: 1, iter: 2' in log
    assert sorted(os.listdir(work_dir)) == sorted(
        [n for n in os.listdir(work_dir) if not n.startswith('.')])
    final = str(work_dir / 'epoch_3.pth')
    assert safe_load(final)['meta']['epoch'] == 3
    assert last.read_text().strip() == 'epoch_3.pth'
    # Replaced (a new file renamed over it), not rewritten in place.
    assert (tmp_path / 'last_checkpoint.before').read_text().strip() == \
        'epoch_1.pth'
    assert not (work_dir / 'epoch_1.pth').exists()  # max_keep_ckpts=1
