"""mmengine's ``CheckpointHook`` with crash-safe bookkeeping.

:mod:`gtsa_plugin.patches.mmengine_checkpoint` registers it in mmengine's
root hook registry as ``CheckpointHook`` (so every
``type='CheckpointHook'`` config, in any scope, builds it) and as
``AtomicCheckpointHook``.
"""
from __future__ import annotations

import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from ...utils.atomic_save import atomic_write_text

__all__ = ['AtomicCheckpointHook']


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
        from ...apis.resume import run_info
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
