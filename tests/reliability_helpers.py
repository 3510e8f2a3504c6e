"""Helpers of the reliability tests: tiny data folders, bad images, real
``tools/train.py`` processes.

Every training here runs the real ``tools/train.py`` with mmengine's real
Runner. A new Python process costs ~10-20 s of imports on a busy 2-core
machine, so runs that need no process of their own (nothing is killed, no
exit code is checked) call the CLI's ``main`` inside the test process
(:func:`train_in_process`); those that are killed, or launched by torchrun,
are separate processes.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import os.path as osp
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
from PIL import Image

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
GTSA_DEMO = osp.join(REPO_ROOT, 'configs', 'gtsa_vit-tiny_demo.py')
DINO_DEMO = osp.join(REPO_ROOT, 'configs', 'dino_vit-tiny_demo.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')

#: Files a user's folder may hold that cannot be decoded.
UNREADABLE = ('truncated.jpg', 'corrupt.jpg', 'zero_bytes.jpg',
              'not_an_image.png')
#: Files that decode, in modes/shapes that need care.
READABLE = ('gray.png', 'rgba.png', 'palette.png', 'gray16.png', 'cmyk.jpg',
            'exif_rotated.jpg', 'small.png', 'tall_20x2000.png',
            'wide_2000x20.jpg')


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


def tiny_folder(src: str, dst: str, num: int) -> str:
    """Copy the first ``num`` images of ``src`` into ``dst``."""
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src))[:num]:
        shutil.copy(osp.join(src, name), osp.join(dst, name))
    return dst


def scene(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """An RGB uint8 test picture with structure (crops differ)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                    (xx + yy) % 256], -1).astype(np.uint8)
    img[rng.integers(0, h, 50), rng.integers(0, w, 50)] = 255
    return img


def _jpeg_bytes(img: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='JPEG', quality=90, **kwargs)
    return buf.getvalue()


def write_bad_images(folder: str) -> Dict[str, str]:
    """Write every kind of awkward file of the issue into ``folder``;
    returns name -> path. Names in :data:`UNREADABLE` cannot be decoded,
    those in :data:`READABLE` can."""
    os.makedirs(folder, exist_ok=True)
    paths = {name: osp.join(folder, name) for name in UNREADABLE + READABLE}
    good = _jpeg_bytes(scene(64, 80, 1))

    with open(paths['truncated.jpg'], 'wb') as f:
        f.write(good[:len(good) * 6 // 10])
    with open(paths['corrupt.jpg'], 'wb') as f:
        f.write(good[:2] + bytes(np.random.default_rng(0).integers(
            0, 256, 2000, dtype=np.uint8)))
    open(paths['zero_bytes.jpg'], 'wb').close()
    with open(paths['not_an_image.png'], 'w') as f:
        f.write('this is a text file with an image extension\n')

    rgb = scene(48, 64, 2)
    Image.fromarray(rgb).convert('L').save(paths['gray.png'])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, 'RGBA').save(paths['rgba.png'])
    Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE,
                                 colors=16).save(paths['palette.png'])
    gray16 = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21
              ).astype(np.uint16)
    gray16[0, 0] = 65535
    Image.fromarray(gray16).save(paths['gray16.png'])
    Image.fromarray(rgb).convert('CMYK').save(
        paths['cmyk.jpg'], format='JPEG', quality=95)
    # Stored 64 wide x 48 high, EXIF orientation 6: shown rotated 90 deg
    # clockwise, i.e. 48 wide x 64 high, the stored top-left at top-right.
    marked = rgb.copy()
    marked[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(marked).save(paths['exif_rotated.jpg'], format='JPEG',
                                 quality=95, exif=exif.tobytes())
    Image.fromarray(scene(10, 12, 3)).save(paths['small.png'])
    Image.fromarray(scene(2000, 20, 4)).save(paths['tall_20x2000.png'])
    with open(paths['wide_2000x20.jpg'], 'wb') as f:
        f.write(_jpeg_bytes(scene(20, 2000, 5)))
    return paths


@contextlib.contextmanager
def pretrain_scope() -> Iterator[None]:
    """mmpretrain as the default registry scope, whatever an earlier test
    (a downstream mmdet/mmseg run) left as the current one."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


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


# ---------------------------------------------------------------------------
# Checkpoints whose pickle would run code
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# The real command-line tools, run inside the test process
# ---------------------------------------------------------------------------
#: Tools that read a checkpoint given on their command line: path relative
#: to the repo -> arguments after the tool (CKPT and OUT are filled in).
CHECKPOINT_TOOLS = {
    'tools/model_converters/extract_backbone.py': ['{ckpt}', '{out}/b.pth'],
    'tools/model_converters/gtsa_official_to_plugin.py':
    ['{ckpt}', '{out}/g.pth'],
    'tools/model_converters/dino_official_to_plugin.py':
    ['{ckpt}', '{out}/d.pth'],
    'tools/visualization/vis_features.py':
    [GTSA_DEMO, '{ckpt}', '{image}', '--out', '{out}/vis'],
}


def checkpoint_tools() -> Dict[str, List[str]]:
    """The checkpoint-reading tools present now: the known ones above and
    any other model converter (assumed ``TOOL IN OUT``)."""
    import glob
    tools = {k: v for k, v in CHECKPOINT_TOOLS.items()
             if osp.isfile(osp.join(REPO_ROOT, k))}
    for path in sorted(glob.glob(
            osp.join(REPO_ROOT, 'tools', 'model_converters', '*.py'))):
        rel = osp.relpath(path, REPO_ROOT).replace(os.sep, '/')
        tools.setdefault(rel, ['{ckpt}', '{out}/converted.pth'])
    return tools


@contextlib.contextmanager
def isolated_globals() -> Iterator[None]:
    """Undo what a Runner changes process-wide (RNG states, deterministic
    algorithms, cuDNN flags, thread count), so that other tests in this
    process are not affected by a training run."""
    import torch
    saved = (random.getstate(), np.random.get_state(),
             torch.random.get_rng_state(),
             torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic, torch.get_num_threads())
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.random.set_rng_state(saved[2])
        torch.use_deterministic_algorithms(saved[3], warn_only=saved[4])
        torch.backends.cudnn.benchmark = saved[5]
        torch.backends.cudnn.deterministic = saved[6]
        torch.set_num_threads(saved[7])


_TRAIN_MODULE = None


def train_in_process(config: str, work_dir: str,
                     options: Sequence[str] = (), *args: str) -> None:
    """``tools/train.py CONFIG --work-dir W ARGS --cfg-options OPTIONS`` run
    by calling its ``main`` in this process: the same code path as the
    command line without ~10 s of imports per run. Exceptions propagate.

    Every run gets its own ``experiment_name``: mmengine keys its logger,
    message hub and visualizer instances by it, and two runs started in the
    same second would otherwise share them.
    """
    import importlib.util
    global _TRAIN_MODULE
    if _TRAIN_MODULE is None:
        spec = importlib.util.spec_from_file_location('gtsa_tools_train',
                                                      TRAIN)
        _TRAIN_MODULE = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_TRAIN_MODULE)
    argv = [config, '--work-dir', str(work_dir), *args, '--cfg-options',
            *options, f'experiment_name=t{uuid.uuid4().hex[:8]}']
    try:
        with isolated_globals():
            _TRAIN_MODULE.main(argv)
    finally:
        _stop_dataloader_workers()


def _stop_dataloader_workers() -> None:
    """Shut down the workers of finished runs now. Left to the garbage
    collector, a persistent-worker iterator is finalised at a random later
    point and its shutdown then blocks ~5 s per worker, in whatever test is
    running."""
    import gc

    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter
    for obj in gc.get_objects():
        if isinstance(obj, _MultiProcessingDataLoaderIter):
            obj._shutdown_workers()


def run_tool_in_process(tool: str, args: Sequence[str]) -> None:
    """Run ``python TOOL ARGS`` as ``__main__`` in this process (``runpy``);
    its exceptions and ``SystemExit`` propagate."""
    import runpy
    saved = sys.argv
    sys.argv = [osp.join(REPO_ROOT, tool), *args]
    try:
        with isolated_globals():
            runpy.run_path(sys.argv[0], run_name='__main__')
    finally:
        sys.argv = saved
