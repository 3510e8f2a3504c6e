"""Safe checkpoint loading with weights_only=True."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from gtsa_plugin.utils.checkpoint import UnsafeCheckpointError, safe_load


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def _runner(work_dir, max_epochs, resume=False):
    data = [dict(inputs=torch.randn(2)) for _ in range(8)]
    return Runner(
        model=TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, batch_size=4,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        resume=resume, default_scope='mmengine')


def test_mmengine_checkpoint_resumes_with_weights_only(tmp_path):
    _runner(tmp_path, 1).train()
    ckpt = tmp_path / 'epoch_1.pth'
    # What mmengine writes needs the allow-list under weights_only=True...
    loaded = torch.load(ckpt, weights_only=True)
    buffers = loaded['message_hub']['log_scalars']
    assert all(isinstance(b, HistoryBuffer) for b in buffers.values())
    assert buffers['train/loss'].mean() == pytest.approx(
        buffers['train/loss'].mean())
    # ...and the Runner's resume works through it.
    runner = _runner(tmp_path, 2, resume=True)
    runner.train()
    assert runner.iter == 4 and runner.epoch == 2


def _evil(tmp_path, reduce_value, name='evil.pth'):

    class Payload:

        def __reduce__(self):
            return reduce_value

    path = tmp_path / name
    torch.save({'state_dict': {}, 'payload': Payload()}, path)
    return path


def test_code_running_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    path = _evil(tmp_path, (os.system, (f'touch {marker}', )))
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        _load_checkpoint(str(path))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        safe_load(path)
    assert not marker.exists()


def test_getattr_is_only_history_buffer_statistics(tmp_path):
    ok = _evil(tmp_path, (getattr, (HistoryBuffer, 'mean')), 'ok.pth')
    assert safe_load(ok)['payload'] is HistoryBuffer.mean
    for target, attr in [(HistoryBuffer, '__init__'),
                         (HistoryBuffer, '__class__'),
                         (torch.Tensor, 'data_ptr')]:
        path = _evil(tmp_path, (getattr, (target, attr)), 'getattr.pth')
        with pytest.raises(UnsafeCheckpointError):
            safe_load(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_load(tmp_path / 'nope.pth')


def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / 'plain.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'a': (os.getcwd, ())}, f)
    with pytest.raises((UnsafeCheckpointError, RuntimeError)):
        safe_load(path)
