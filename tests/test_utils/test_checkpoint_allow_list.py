"""Every kind of content mmengine, numpy and torch write legitimately loads
through the safe loader; every code-running payload stays refused, with no
side effect (issue #12, case 14).

Refused before: an empty ``HistoryBuffer`` and any empty numpy array
(pickle protocol 2 writes empty bytes as a call of ``builtins.bytes``),
and a ``np.str_`` in the message hub (``numpy.dtypes.StrDType``).
"""
from __future__ import annotations

import builtins
import uuid

import evil_checkpoint_helpers as ev
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from gtsa_plugin.utils.checkpoint import UnsafeCheckpointError, safe_load


def _history(*values):
    buffer = HistoryBuffer()
    for value in values:
        buffer.update(value)
    return buffer


def _message_hub_state():
    hub = MessageHub.get_instance(f'allow-{uuid.uuid4().hex}')
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('name', np.str_('gtsa'))
    hub.update_info('keep_ckpt_ids', [1, 2])
    hub.log_scalars['train/empty'] = HistoryBuffer()
    return hub.state_dict()


LEGITIMATE = {
    'empty HistoryBuffer': HistoryBuffer(),
    'HistoryBuffer': _history(1.0, 2.0),
    'empty float array': np.zeros(0),
    'empty int 2-d array': np.zeros((0, 3), np.int64),
    'empty bool array': np.zeros(0, bool),
    'np.str_ scalar': np.str_('abc'),
    'np.bytes_ scalar': np.bytes_(b'ab'),
    'string array': np.array(['a', 'bc']),
    'empty string array': np.array([], dtype='<U3'),
    'datetime64': np.datetime64('2020-01-01'),
    'timedelta64': np.timedelta64(3, 's'),
    'float16 scalar': np.float16(1.5),
    'complex64 scalar': np.complex64(1j),
    '0-d array': np.array(3.0),
    'empty bytes': b'',
    'bytes': b'abc',
    'empty tensor': torch.zeros(0),
    'message hub with np.str_ and an empty buffer': _message_hub_state(),
}


def _same(a, b) -> bool:
    if isinstance(a, HistoryBuffer):
        return isinstance(b, HistoryBuffer) and all(
            np.array_equal(x, y) for x, y in zip(a.data, b.data))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize('name', list(LEGITIMATE))
def test_legitimate_content_round_trips(name, tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    value = LEGITIMATE[name]
    torch.save({'meta': {'x': value}}, path)
    assert _same(value, safe_load(path)['meta']['x'])


class _Reduce:
    """Pickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _hostile(kind: str, path: str, marker: str) -> None:
    exec_call = _Reduce(builtins.exec, f'open({marker!r}, "w").close()')
    payload = {
        # bytes(10**12): a memory bomb through the newly allowed global
        'bytes_memory_bomb': _Reduce(builtins.bytes, 10**12),
        # bytes(<exec(...)>): the argument would run code first
        'bytes_of_exec': _Reduce(builtins.bytes, exec_call),
        # bytes('x', 'utf-8'): only bytes() and bytes(<bytes>) are allowed
        'bytes_of_str': _Reduce(builtins.bytes, 'x', 'utf-8'),
        # getattr on bytes, the way to its class methods
        'getattr_bytes': _Reduce(getattr, bytes, 'fromhex'),
        # an object-dtype array: its items could be anything
        'object_array': np.array([1, 'a'], dtype=object),
    }[kind]
    torch.save({'meta': {}, 'message_hub': payload}, path)


HOSTILE = ['bytes_memory_bomb', 'bytes_of_exec', 'bytes_of_str',
           'getattr_bytes', 'object_array']


@pytest.mark.parametrize('kind', HOSTILE + list(ev.EVIL_KINDS))
def test_hostile_content_is_refused_without_side_effect(kind, tmp_path):
    path = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'ran.marker')
    if kind in ev.EVIL_KINDS:
        ev.write_evil_checkpoint(path, kind, marker)
    else:
        _hostile(kind, path, marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(path)
    assert path in str(info.value)
    assert not (tmp_path / 'ran.marker').exists()
