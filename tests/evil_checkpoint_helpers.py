"""Checkpoints whose pickle would run code (for the safe-loading
tests)."""
from __future__ import annotations

import os


class _Call:
    """Pickles as ``func(*args)``: a REDUCE of whatever ``func`` unpickles
    to (another :class:`_Call` gives a chain). Callable only so that pickle
    accepts it as a reduce function."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __call__(self, *args):  # pragma: no cover - never called
        raise RuntimeError('only for pickling')

    def __reduce__(self):
        return (self.func, self.args)


def _code(marker: str) -> str:
    return f'open({marker!r}, "w").close()'


def _via_globals(function, marker: str) -> _Call:
    """``function.__globals__['__builtins__']['exec'](code)``, every step a
    ``getattr`` or a call of what the previous one returned."""
    glob = _Call(getattr, function, '__globals__')
    builtins_ = _Call(_Call(getattr, glob, 'get'), '__builtins__')
    exec_ = _Call(_Call(getattr, builtins_, 'get'), 'exec')
    return _Call(exec_, _code(marker))


def _raw_pickle_zip(path: str, payload: bytes) -> None:
    """A torch zip checkpoint whose ``data.pkl`` is ``payload``."""
    import zipfile

    import torch
    torch.save({'x': 1}, path + '.base')
    with zipfile.ZipFile(path + '.base') as src, zipfile.ZipFile(
            path, 'w', zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            dst.writestr(name, payload if name.endswith('/data.pkl')
                         else src.read(name))
    os.remove(path + '.base')


def _binunicode(text: str) -> bytes:
    data = text.encode()
    return b'X' + len(data).to_bytes(4, 'little') + data


#: kind -> whether loading it unsafely creates the marker file
EVIL_KINDS = {
    # __reduce__ -> exec(code)
    'reduce_exec': True,
    # getattr(HistoryBuffer, '__init__') -> __globals__ -> builtins -> exec
    'getattr_history_buffer_init': True,
    # the same through another allow-listed global (torch's tensor rebuild
    # function, on torch's own weights_only allow-list)
    'getattr_torch_global': True,
    # getattr(HistoryBuffer, '__class__'): type itself
    'getattr_class': False,
    # an allowed getattr whose result is then called
    'call_allowed_method': False,
    # raw opcodes: GLOBAL builtins.getattr, (HistoryBuffer, '__init__'), R
    'raw_getattr_opcodes': False,
    # pre-1.6 (non-zip) format with the exec payload
    'legacy_reduce_exec': True,
}


def write_evil_checkpoint(path: str, kind: str, marker: str) -> str:
    """Write a checkpoint of ``kind`` (see :data:`EVIL_KINDS`) that looks
    like a normal one (``state_dict``, ``meta``) but whose unpickling would
    create ``marker``; returns ``path``."""
    import builtins

    import torch
    from mmengine.logging import HistoryBuffer

    normal = {'meta': {'epoch': 1, 'iter': 1},
              'state_dict': {'backbone.w': torch.zeros(2)}}
    if kind == 'reduce_exec':
        torch.save(dict(normal, message_hub=_Call(builtins.exec,
                                                  _code(marker))), path)
    elif kind == 'legacy_reduce_exec':
        torch.save(dict(normal, message_hub=_Call(builtins.exec,
                                                  _code(marker))), path,
                   _use_new_zipfile_serialization=False)
    elif kind == 'getattr_history_buffer_init':
        init = _Call(getattr, HistoryBuffer, '__init__')
        torch.save(dict(normal, message_hub=_via_globals(init, marker)), path)
    elif kind == 'getattr_torch_global':
        torch.save(dict(normal, message_hub=_via_globals(
            torch._utils._rebuild_tensor_v2, marker)), path)
    elif kind == 'getattr_class':
        torch.save(dict(normal, message_hub=_Call(
            _Call(getattr, HistoryBuffer, '__class__'), 'X', (), {})), path)
    elif kind == 'call_allowed_method':
        torch.save(dict(normal, message_hub=_Call(
            _Call(getattr, HistoryBuffer, 'min'), HistoryBuffer())), path)
    elif kind == 'raw_getattr_opcodes':
        payload = (b'\x80\x02' + b'cbuiltins\ngetattr\n'
                   + b'cmmengine.logging.history_buffer\nHistoryBuffer\n'
                   + _binunicode('__init__') + b'\x86R.')
        _raw_pickle_zip(path, payload)
    else:
        raise KeyError(kind)
    return path
