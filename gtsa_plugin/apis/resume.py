"""``--resume``: which checkpoint, and whether this run can continue it.

Resolved before the model is built (:func:`check_resume`, called by
:func:`gtsa_plugin.apis.cli.preflight`):

* a bare ``--resume`` reads ``work_dir/last_checkpoint`` RELATIVE to the
  work dir (a moved or copied work dir resumes from its own files, never
  from the folder it was copied from), then falls back, with a warning, to
  the newest ``epoch_*.pth`` / ``iter_*.pth`` that loads (a truncated last
  checkpoint after a full disk); with no checkpoint at all it says plainly
  that training starts from scratch;
* ``--resume PATH`` that cannot be read fails naming the file;
* a checkpoint written by another algorithm (DINO for a GTSA config), or
  with another batch size or number of processes (the iteration-based
  lr/weight-decay schedules were converted with its iterations per epoch)
  stops the run with an error naming the keys (the same total batch on
  another number of processes is fine: the schedules depend on the
  iterations per epoch only).

What is compared comes from ``meta['run_info']``, which
:class:`~gtsa_plugin.engine.hooks.AtomicCheckpointHook` writes into
every checkpoint (:func:`run_info`).
"""
from __future__ import annotations

import glob
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

from ..utils.checkpoint import safe_load
from .run_checks import warn, world_size

LAST_CHECKPOINT = 'last_checkpoint'


def run_info(runner) -> dict:
    """What a resumed run must match: algorithm, batch size, processes."""
    from mmengine.model import is_model_wrapper
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    loader = runner.cfg.get('train_dataloader') or {}
    return dict(algorithm=type(model).__name__,
                batch_size=loader.get('batch_size'),
                world_size=runner.world_size)


def _step(path: str) -> int:
    """N of ``epoch_N.pth`` / ``iter_N.pth``."""
    match = re.search(r'(epoch|iter)_(\d+)\.pth$', osp.basename(path))
    return 0 if match is None else int(match.group(2))


def candidates(work_dir: str) -> List[str]:
    """Checkpoints of ``work_dir``, the one ``last_checkpoint`` names first,
    then the others newest first."""
    found = sorted(glob.glob(osp.join(glob.escape(work_dir), 'epoch_*.pth'))
                   + glob.glob(osp.join(glob.escape(work_dir), 'iter_*.pth')),
                   key=_step, reverse=True)
    marker = osp.join(work_dir, LAST_CHECKPOINT)
    if osp.isfile(marker):
        with open(marker) as f:
            named = f.read().strip()
        if named:
            # Relative names (written since this version) are the work
            # dir's; an old absolute one counts only by its file name, so a
            # moved or copied work dir resumes from its own files.
            own = osp.join(work_dir, osp.basename(named)) \
                if osp.isabs(named) else osp.join(work_dir, named)
            if osp.isfile(own):
                found = [own] + [p for p in found
                                 if osp.abspath(p) != osp.abspath(own)]
    return found


def read_checkpoint_meta(path: str) -> dict:
    """The checkpoint's ``meta`` (memory-mapped: tensors are not read).

    Raises:
        FileNotFoundError / CorruptCheckpointError / UnsafeCheckpointError,
        each naming the file.
    """
    ckpt = safe_load(path, map_location='cpu', mmap=True)
    return ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}


def check_resume(cfg: Config) -> Optional[str]:
    """Resolve ``cfg.resume`` / ``cfg.load_from`` (see the module text);
    returns the checkpoint resumed from, ``None`` when starting afresh.

    A bare ``--resume`` keeps ``load_from=None``: mmengine's Runner then
    finds the same checkpoint through :func:`find_latest_checkpoint`
    (installed by :func:`install_latest_checkpoint_resolution`) and logs
    it in the work dir's log.
    """
    if not cfg.get('resume'):
        return None
    path = cfg.get('load_from')
    if path:
        meta = read_checkpoint_meta(path)
    else:
        path, meta = latest_loadable(cfg.work_dir, report=False)
        if path is None:
            cfg.resume = False
            print_log(
                f'--resume: no checkpoint in {cfg.work_dir}: training starts '
                'from scratch', logger='current', level=30)
            return None
    check_compatible(cfg, meta, path)
    return path


def latest_loadable(work_dir: str, report: bool = True
                    ) -> Tuple[Optional[str], dict]:
    """``(path, meta)`` of the newest checkpoint of ``work_dir`` that loads
    (:func:`candidates` order); ``(None, {})`` when there is none. Damaged
    ones are skipped with a warning (``report``).

    Raises:
        RuntimeError: There are checkpoints but none loads (names them).
    """
    broken = []
    for path in candidates(work_dir):
        try:
            meta = read_checkpoint_meta(path)
        except Exception as err:  # noqa: BLE001 - reported below
            broken.append(f'{path} ({err})')
            continue
        if broken and report:
            warn('--resume: skipped checkpoints that cannot be loaded: '
                 + '; '.join(broken) + f'. Resuming from {path}, the newest '
                 'one that loads.')
        return path, meta
    if broken:
        raise RuntimeError('--resume: no checkpoint in ' + work_dir +
                           ' can be loaded: ' + '; '.join(broken))
    return None, {}


def find_latest_checkpoint(save_dir: str) -> Optional[str]:
    """Replacement of mmengine's (same signature): the work dir's own
    newest loadable checkpoint (see :func:`latest_loadable`)."""
    return latest_loadable(save_dir)[0]


def install_latest_checkpoint_resolution() -> None:
    """Make mmengine's Runner auto-resume through
    :func:`find_latest_checkpoint`. Idempotent; called on
    ``import gtsa_plugin``."""
    import mmengine.runner.runner as runner_module
    runner_module.find_latest_checkpoint = find_latest_checkpoint


def check_compatible(cfg: Config, meta: dict, path: str) -> None:
    """Same algorithm, batch size and number of processes as the run that
    wrote ``path``."""
    info = meta.get('run_info') or {}
    model_type = (cfg.get('model') or {}).get('type')
    written = info.get('algorithm')
    if written and isinstance(model_type, str) and \
            written.split('.')[-1] != model_type.split('.')[-1]:
        raise ValueError(
            f'--resume: {path} was written by a {written} run, but this '
            f'config trains model.type={model_type!r}. Resume with the '
            'config that wrote it, or start a new work dir (load_from to '
            'initialise weights only).')
    batch = (cfg.get('train_dataloader') or {}).get('batch_size')
    processes = world_size(cfg)
    old = (info.get('batch_size'), info.get('world_size'))
    # What the schedules depend on is the total batch (iterations per
    # epoch): 2 x 2 continues a 4 x 1 run exactly.
    if None not in old and old[0] * old[1] != batch * processes:
        raise ValueError(
            f'--resume: {path} was written with train_dataloader.batch_size='
            f'{old[0]} x {old[1]} process(es); this run has '
            f'train_dataloader.batch_size={batch} x {processes} '
            'process(es). Its iteration-based lr/weight-decay schedules were '
            'converted with the old iterations per epoch and would end at '
            'the wrong iteration. Resume with the same batch size and number '
            'of processes, or start a new run (load_from for the weights).')
