"""Crash-safe checkpoint writing for mmengine (installed on import).

mmengine 0.10 writes a checkpoint by opening its final path and streaming
the bytes into it, then overwrites ``work_dir/last_checkpoint`` in place,
and its ``CheckpointHook`` deletes the oldest checkpoint (``max_keep_ckpts``)
*before* writing the new one. A process killed during a save (SIGKILL, OOM
killer, pre-emption, node loss) can therefore leave a truncated
``epoch_k.pth``, an empty ``last_checkpoint``, or, with
``max_keep_ckpts=1``, no checkpoint at all.

:func:`install_atomic_checkpoint_saving` fixes all three for local paths:

* :func:`atomic_save_checkpoint` replaces ``mmengine``'s
  ``save_checkpoint`` (every module that imported it): ``torch.save`` into
  a temporary file in the same folder, ``fsync``, ``os.replace`` onto the
  final name. Readers see the old file or the complete new one, never a
  partial one. Other backends (``s3://``, ``pavi://`` ...) keep mmengine's
  code.
* :class:`AtomicCheckpointHook` replaces ``CheckpointHook`` in mmengine's
  root hook registry (so every ``type='CheckpointHook'`` config, in any
  scope, builds it): ``last_checkpoint`` is written the same atomic way,
  and old checkpoints are removed only after the new one is complete and
  ``last_checkpoint`` names it.

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
from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

__all__ = [
    'atomic_write', 'atomic_save_checkpoint', 'AtomicCheckpointHook',
    'install_atomic_checkpoint_saving'
]

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


class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`CheckpointHook` with crash-safe bookkeeping:
    ``last_checkpoint`` is replaced atomically, and checkpoints beyond
    ``max_keep_ckpts`` are deleted only after the new one is complete and
    ``last_checkpoint`` points to it (mmengine deletes first). Everything
    else (arguments, file names, intervals, best checkpoints, resume of
    ``keep_ckpt_ids``) is mmengine's."""

    def _save_checkpoint_with_step(self, runner, step, meta):
        # Bookkeeping as mmengine's, but collect what to delete for later.
        outdated = []
        if self.max_keep_ckpts > 0:
            # _save_checkpoint and _save_best_checkpoint may both call this
            # in one epoch.
            if not (len(self.keep_ckpt_ids) > 0
                    and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    outdated.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)

        # What a resumed run must match (algorithm, batch size, processes):
        # checked by gtsa_plugin.apis.resume before the model is built.
        from ..apis.resume import run_info
        meta = dict(meta or {}, run_info=run_info(runner))
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        # Only a written checkpoint is "the last one" (a refused save, e.g.
        # non-finite weights, must not be named as the last good one).
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        # Model-parallel-like training pulls sharded states from all ranks
        # but only the main process writes the bookkeeping.
        if not is_main_process():
            return
        # Relative to the work dir when inside it: a moved or copied work
        # dir stays self-contained (gtsa_plugin.apis.resume reads it).
        last = str(self.last_ckpt)
        if osp.isabs(last) and osp.abspath(last).startswith(
                osp.abspath(runner.work_dir) + os.sep):
            last = osp.relpath(last, runner.work_dir)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), last)
        # Only now is the outdated checkpoint no longer the newest complete
        # one: delete it.
        for old_step in outdated:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                # checkpoints saved by deepspeed are directories
                self.file_backend.rmtree(path)


_INSTALLED = False


def install_atomic_checkpoint_saving() -> None:
    """Route mmengine's checkpoint saving through
    :func:`atomic_save_checkpoint` and make ``type='CheckpointHook'`` build
    :class:`AtomicCheckpointHook`. Idempotent; called on
    ``import gtsa_plugin``."""
    global _INSTALLED, _ORIGINAL_SAVE_CHECKPOINT
    if _INSTALLED:
        return
    import sys

    import mmengine.runner.checkpoint as ckpt_module
    _ORIGINAL_SAVE_CHECKPOINT = ckpt_module.save_checkpoint
    # Every module that did `from ... import save_checkpoint` holds its own
    # reference (mmengine.runner, .runner.runner, the strategies ...).
    for name, module in list(sys.modules.items()):
        if (name == 'mmengine' or name.startswith('mmengine.')) and getattr(
                module, 'save_checkpoint', None) is _ORIGINAL_SAVE_CHECKPOINT:
            module.save_checkpoint = atomic_save_checkpoint
    HOOKS.register_module(name='CheckpointHook', module=AtomicCheckpointHook,
                          force=True)
    HOOKS.register_module(name='AtomicCheckpointHook',
                          module=AtomicCheckpointHook, force=True)
    _INSTALLED = True
