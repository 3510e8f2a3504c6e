"""Safe checkpoint loading on torch >= 2.6 (``weights_only=True``): the
library behind :mod:`gtsa_plugin.patches.mmengine_checkpoint`.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch
2.6 that means ``weights_only=True``, and mmengine's own checkpoints then fail
to load because they pickle a few non-tensor objects (the message hub's
``HistoryBuffer`` and the numpy arrays and scalars inside it). We never fall
back to ``weights_only=False``: model-zoo checkpoints come from strangers.
Instead we allow-list exactly the types mmengine writes:

* ``mmengine.logging.HistoryBuffer`` (rebuilt through its ``__setstate__``);
* numpy's array and scalar reconstructors, ``ndarray``, ``dtype`` and the
  plain data dtype classes: numbers, strings, bytes, dates (numpy 1.x and
  2.x module names);
* ``builtins.getattr``, but bound to :func:`_history_buffer_getattr`, which
  only resolves ``HistoryBuffer``'s statistics methods (``min``, ``mean`` ...)
  that a ``HistoryBuffer`` pickles as ``getattr(HistoryBuffer, 'min')``. Any
  other ``getattr`` in a pickle is refused, so it opens no path to code;
* ``builtins.bytes``, bound to :func:`_safe_bytes` (``bytes()`` only: how
  pickle protocol 2 writes the empty data of an empty array).

Loading a local file additionally re-raises unpickling failures as
:class:`UnsafeCheckpointError` naming the file.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.serialization
from mmengine.logging import HistoryBuffer

__all__ = [
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'safe_load',
    'safe_globals'
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint could not be loaded with ``weights_only=True``."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is damaged (truncated, partial copy, not a torch
    file); the message names it."""


# Registered on first instantiation; a fresh process has none yet.
_DEFAULT_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` during ``weights_only`` loads.

    Only ``HistoryBuffer.<statistics method>`` is resolvable; everything else
    is refused before any attribute is touched.
    """
    allowed = _DEFAULT_STATISTICS | set(HistoryBuffer._statistics_methods)
    if (obj is HistoryBuffer and isinstance(name, str) and name in allowed
            and not name.startswith('_')
            and callable(vars(HistoryBuffer).get(name))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint: only '
        f'HistoryBuffer statistics methods {sorted(allowed)} are.')


def _safe_bytes(*args: Any) -> bytes:
    """Stand-in for ``builtins.bytes`` during ``weights_only`` loads.

    Pickle protocol 2 (``torch.save``'s) writes an empty ``bytes`` (the
    data of any empty numpy array, of an empty ``HistoryBuffer``) as the
    call ``bytes()``. Only that call and a copy of bytes are allowed:
    ``bytes(10**12)`` (a memory bomb) or anything else is refused.
    """
    if not args:
        return b''
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    raise pickle.UnpicklingError(
        f'bytes{tuple(type(a).__name__ for a in args)} is not allowed in a '
        'checkpoint: only bytes() and bytes(<bytes>) are.')


def _numpy_globals() -> list[tuple[Callable, str]]:
    """numpy objects that mmengine's message hub pickles, under every module
    path numpy 1.x and 2.x write them with."""
    from numpy._core import multiarray  # numpy >= 2
    items: list[tuple[Callable, str]] = []
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        items.append((multiarray._reconstruct, f'{mod}._reconstruct'))
        items.append((multiarray.scalar, f'{mod}.scalar'))
    items.append((np.ndarray, 'numpy.ndarray'))
    items.append((np.dtype, 'numpy.dtype'))
    # BUILD on a dtype instance checks the instance's class, so the plain
    # data dtype classes must be allowed too: numbers, fixed-width strings
    # and bytes (a ``np.str_`` in the message hub), dates and durations.
    # No object or void dtypes: their items can be arbitrary objects.
    for name in ('Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'UInt8',
                 'UInt16', 'UInt32', 'UInt64', 'Float16', 'Float32',
                 'Float64', 'LongDouble', 'Complex64', 'Complex128',
                 'CLongDouble', 'Str', 'Bytes', 'DateTime64',
                 'TimeDelta64'):
        cls = getattr(np.dtypes, f'{name}DType', None)
        if cls is not None:
            items.append((cls, f'numpy.dtypes.{name}DType'))
    return items


def safe_globals() -> list:
    """Everything we add to torch's ``weights_only`` allow-list."""
    return [
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (_history_buffer_getattr, 'builtins.getattr'),
        (_safe_bytes, 'builtins.bytes'),
        *_numpy_globals(),
    ]


def safe_load(filename: str | os.PathLike,
              map_location: Any = 'cpu',
              extra_globals: Optional[list] = None,
              mmap: bool = False) -> Any:
    """``torch.load(filename, weights_only=True)`` with our allow-list.

    Args:
        filename: Path of the checkpoint.
        map_location: As for ``torch.load``.
        extra_globals: Further globals allowed for this call only (e.g.
            ``argparse.Namespace`` for the reference code's checkpoints).
        mmap: Memory-map the tensors (reads only what is touched, e.g. the
            ``meta`` of a large checkpoint).

    Raises:
        FileNotFoundError: The file does not exist (names it).
        UnsafeCheckpointError: The pickle needs something not allow-listed,
            for example a call that would run code (names the file).
        CorruptCheckpointError: The file is truncated or not a torch
            checkpoint (names the file).
    """
    filename = os.fspath(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    kwargs = dict(map_location=map_location, weights_only=True)
    if mmap:
        kwargs['mmap'] = True
    try:
        if extra_globals:
            with torch.serialization.safe_globals(list(extra_globals)):
                return torch.load(filename, **kwargs)
        return torch.load(filename, **kwargs)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refused to load checkpoint {filename}: it is not a plain '
            'weights file (weights_only=True failed). Its pickle asks for '
            'something outside the allow-list, which may run code; nothing '
            f'from it was executed. Details: {err}') from None
    except RuntimeError as err:
        if 'weights_only' in str(err) or 'Unpickl' in str(err):
            raise UnsafeCheckpointError(
                f'Refused to load checkpoint {filename}: {err}') from None
        raise CorruptCheckpointError(
            f'checkpoint {filename} is damaged (truncated, partially copied '
            f'or not a torch checkpoint): {err}') from None
    except (EOFError, ValueError, OSError) as err:
        raise CorruptCheckpointError(
            f'checkpoint {filename} is damaged (truncated, partially copied '
            f'or not a torch checkpoint): {err}') from None
