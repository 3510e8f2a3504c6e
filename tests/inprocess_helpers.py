"""The real command-line tools run inside the test process.

Every training here runs the real ``tools/train.py`` with mmengine's real
Runner. A new Python process costs ~10-20 s of imports on a busy 2-core
machine, so runs that need no process of their own (nothing is killed, no
exit code is checked) call the CLI's ``main`` inside the test process
(:func:`train_in_process`); those that are killed, or launched by torchrun,
are separate processes.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import random
import sys
import uuid
from typing import Dict, Iterator, List, Sequence

import numpy as np
from repo_helpers import GTSA_DEMO, REPO_ROOT, load_tool


@contextlib.contextmanager
def pretrain_scope() -> Iterator[None]:
    """mmpretrain as the default registry scope, whatever an earlier test
    (a downstream mmdet/mmseg run) left as the current one."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


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


def train_in_process(config: str, work_dir: str,
                     options: Sequence[str] = (), *args: str) -> None:
    """``tools/train.py CONFIG --work-dir W ARGS --cfg-options OPTIONS`` run
    by calling its ``main`` in this process: the same code path as the
    command line without ~10 s of imports per run. Exceptions propagate.

    Every run gets its own ``experiment_name``: mmengine keys its logger,
    message hub and visualizer instances by it, and two runs started in the
    same second would otherwise share them.
    """
    argv = [config, '--work-dir', str(work_dir), *args, '--cfg-options',
            *options, f'experiment_name=t{uuid.uuid4().hex[:8]}']
    try:
        with isolated_globals():
            load_tool('tools/train.py').main(argv)
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
