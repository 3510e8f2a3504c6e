"""Crash-safe (atomic) checkpoint writing: the library behind
:mod:`gtsa_plugin.patches.mmengine_checkpoint`.

mmengine 0.10 writes a checkpoint by opening its final path and streaming
the bytes into it, then overwrites ``work_dir/last_checkpoint`` in place,
and its ``CheckpointHook`` deletes the oldest checkpoint (``max_keep_ckpts``)
*before* writing the new one. A process killed during a save (SIGKILL, OOM
killer, pre-emption, node loss) can therefore leave a truncated
``epoch_k.pth``, an empty ``last_checkpoint``, or, with
``max_keep_ckpts=1``, no checkpoint at all.

* :func:`atomic_save_checkpoint` (installed in place of ``mmengine``'s
  ``save_checkpoint`` by the patch): ``torch.save`` into a temporary file in
  the same folder, ``fsync``, ``os.replace`` onto the final name. Readers
  see the old file or the complete new one, never a partial one. Other
  backends (``s3://``, ``pavi://`` ...) keep mmengine's code.
* :func:`atomic_write_text` writes ``last_checkpoint`` the same way for
  :class:`~gtsa_plugin.engine.hooks.AtomicCheckpointHook`, which removes old
  checkpoints only after the new one is complete and ``last_checkpoint``
  names it.

Temporary files are named ``.<name>.tmp-<pid>-<random>``; those left by a
killed process are removed by the next successful save of the same name.
"""
from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
import uuid
from typing import IO, Iterator, Optional

import torch
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend

__all__ = ['atomic_write', 'atomic_write_text', 'atomic_save_checkpoint']

_TMP_MARK = '.tmp-'


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable (power loss); not all systems allow
    # opening a directory, and a kill alone does not need it.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: exists, owned by someone else
        return True
    return True


def _remove_stale_temps(directory: str, name: str) -> None:
    """Delete temporaries of ``name`` whose writer is gone."""
    for tmp in glob.glob(osp.join(glob.escape(directory),
                                  f'.{glob.escape(name)}{_TMP_MARK}*')):
        pid_text = osp.basename(tmp)[len(name) + 1 + len(_TMP_MARK):]
        pid_text = pid_text.split('-', 1)[0]
        if pid_text.isdigit() and (int(pid_text) == os.getpid()
                                   or not _pid_alive(int(pid_text))):
            with contextlib.suppress(OSError):
                os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb',
                 encoding: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; when the block
    ends without an exception, flush, ``fsync`` and rename it onto ``path``
    (``os.replace``: atomic on POSIX and Windows). On an exception the
    temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = osp.basename(path)
    tmp = osp.join(directory,
                   f'.{name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}')
    try:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)
    _remove_stale_temps(directory, name)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, 'w', encoding='utf-8') as f:
        f.write(text)


# mmengine's own save_checkpoint, for non-local backends; set by
# gtsa_plugin.patches.mmengine_checkpoint when it installs the replacement.
_ORIGINAL_SAVE_CHECKPOINT = None


def _is_local(filename: str, backend_args: Optional[dict]) -> bool:
    if filename.startswith('pavi://'):
        return False
    try:
        backend = get_file_backend(filename, backend_args=backend_args)
    except Exception:  # unknown prefix: let mmengine report it
        return False
    return isinstance(backend, LocalBackend)


def atomic_save_checkpoint(checkpoint: dict,
                           filename: str,
                           file_client_args: Optional[dict] = None,
                           backend_args: Optional[dict] = None) -> None:
    """``mmengine.runner.checkpoint.save_checkpoint`` with an atomic write
    for local files (same arguments)."""
    filename = os.fspath(filename)
    if file_client_args is None and _is_local(filename, backend_args):
        # Streams into the temporary file: no second in-memory copy of the
        # checkpoint as mmengine's BytesIO detour makes.
        with atomic_write(filename, 'wb') as f:
            torch.save(checkpoint, f)
        return
    assert _ORIGINAL_SAVE_CHECKPOINT is not None
    _ORIGINAL_SAVE_CHECKPOINT(
        checkpoint, filename, file_client_args=file_client_args,
        backend_args=backend_args)
