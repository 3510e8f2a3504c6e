"""Real ``tools/train.py`` processes of the reliability tests: their
environment, command lines, ``--cfg-options`` of a short run, and reading
what a run logged."""
from __future__ import annotations

import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time
from typing import Iterable, List, Optional, Sequence

from repo_helpers import REPO_ROOT, TRAIN


def env(**extra: str) -> dict:
    """Environment of the child processes: few threads, the repo importable,
    no inherited distributed settings."""
    out = dict(os.environ)
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                'MASTER_PORT'):
        out.pop(key, None)
    # The same thread count as this process: CPU kernels may sum in another
    # order with another count, and runs are compared across processes.
    import torch
    threads = str(torch.get_num_threads())
    out['OMP_NUM_THREADS'] = threads
    out['MKL_NUM_THREADS'] = threads
    out['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [out.get('PYTHONPATH')] if p])
    out['PYTHONWARNINGS'] = 'ignore::DeprecationWarning'
    out.update(extra)
    return out


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def write_config(path: str, base: str, body: str = '') -> str:
    """A config inheriting ``base`` (absolute path) plus ``body``; written
    at test time, so the repo holds no machine paths."""
    with open(path, 'w') as f:
        f.write(f'_base_ = [{base!r}]\n{body}\n')
    return path


#: ``--cfg-options`` cutting the 8 local crops of the demos to 2: the
#: reliability runs test bookkeeping, not the loss, and this halves their
#: compute.
FEW_CROPS = {
    'gtsa': {'train_dataloader.dataset.pipeline.1.num_crops': '(2,2)'},
    'dino': {'train_dataloader.dataset.pipeline.1.num_crops': '(2,2)'},
}


def tiny_options(data_root: str, epochs: int = 1, batch_size: int = 4,
                 num_workers: int = 0, **extra) -> List[str]:
    """``--cfg-options`` for a few-second run of a demo config."""
    opts = {
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.num_workers': num_workers,
        'train_dataloader.persistent_workers': num_workers > 0,
        'train_cfg.max_epochs': epochs,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'randomness.seed': 0,
        'randomness.deterministic': True,
    }
    opts.update(extra)
    return [f'{k}={v}' for k, v in opts.items()]


def train_cmd(config: str, work_dir: str, options: Sequence[str] = (),
              *args: str) -> List[str]:
    cmd = [sys.executable, TRAIN, config, '--work-dir', str(work_dir), *args]
    if options:
        cmd += ['--cfg-options', *options]
    return cmd


def run(cmd: Sequence[str], timeout: float = 300, **kwargs
        ) -> subprocess.CompletedProcess:
    kwargs.setdefault('env', env())
    return subprocess.run(list(cmd), cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def popen(cmd: Sequence[str], log_path: str, **kwargs) -> subprocess.Popen:
    """Start ``cmd`` with stdout+stderr to ``log_path``."""
    kwargs.setdefault('env', env())
    log = open(log_path, 'w')
    proc = subprocess.Popen(list(cmd), cwd=REPO_ROOT, stdout=log,
                            stderr=subprocess.STDOUT, **kwargs)
    proc.log_file = log  # type: ignore[attr-defined]
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 300
           ) -> subprocess.CompletedProcess:
    """Wait for a :func:`popen` process; its log as ``stdout``."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.log_file.close()  # type: ignore[attr-defined]
    with open(proc.log_path) as f:  # type: ignore[attr-defined]
        out = f.read()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, out)


def wait_for(predicate, timeout: float,
             proc: Optional[subprocess.Popen] = None,
             interval: float = 0.005) -> bool:
    """Poll ``predicate`` until true; False on timeout or if ``proc`` ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(predicate())
        time.sleep(interval)
    return False


def read_jsonl(path: str) -> List[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def scalars(work_dir: str) -> List[dict]:
    """All rows of the run's ``vis_data/scalars.json`` files (every run in
    the work dir, oldest first)."""
    rows: List[dict] = []
    for stamp in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, stamp, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            rows += read_jsonl(path)
    return rows


def logs(work_dir: str) -> str:
    """Concatenated text logs of every run in ``work_dir``."""
    text = []
    for stamp in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, stamp, f'{stamp}.log')
        if osp.isfile(path):
            with open(path) as f:
                text.append(f.read())
    return '\n'.join(text)


def tail(text: str, n: int = 4000) -> str:
    return text[-n:]


def assert_names(text: str, names: Iterable[str]) -> None:
    missing = [n for n in names if n not in text]
    assert not missing, f'{missing} not mentioned in:\n{tail(text)}'
