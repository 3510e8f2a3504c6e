"""Shared fixtures: synthetic scenes made once per session, registries."""
from __future__ import annotations

import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from repo_helpers import REPO_ROOT  # the one REPO_ROOT of the tests

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# Tests run on CPU with few threads; keep OpenMP from oversubscribing.
os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(scope='session', autouse=True)
def _registries():
    """mmpretrain's registries with the plugin's modules in them."""
    from mmengine.registry import init_default_scope
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import gtsa_plugin  # noqa: F401
    init_default_scope('mmpretrain')


@pytest.fixture(scope='session')
def synthetic_scenes(tmp_path_factory) -> dict:
    """A small synthetic data set in every layout (see README: data)."""
    from gtsa_plugin.datasets.synthetic import generate_synthetic_scenes
    root = tmp_path_factory.mktemp('synthetic')
    return generate_synthetic_scenes(
        str(root), num_images=24, seed=0, image_size=(256, 192))


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope='session')
def gtsa_demo_ckpt(tmp_path_factory, synthetic_scenes) -> dict:
    """A real GTSA checkpoint: ``tools/train.py`` on
    ``configs/gtsa_vit-tiny_demo.py`` for one epoch of two iterations
    (4 synthetic images, batch 2).

    Returns:
        dict with ``ckpt`` (``epoch_1.pth``), ``work_dir``, ``config`` and
        ``images`` (the 4 training images, 256 x 192).
    """
    root = tmp_path_factory.mktemp('gtsa_demo')
    data = root / 'images'
    data.mkdir()
    folder = synthetic_scenes['unlabeled']
    src = [osp.join(folder, f) for f in sorted(os.listdir(folder))
           if f.endswith('.jpg')][:4]
    images = [shutil.copy(p, data) for p in src]
    work_dir = root / 'work'
    config = osp.join(REPO_ROOT, 'configs/gtsa_vit-tiny_demo.py')
    cmd = [
        sys.executable, osp.join(REPO_ROOT, 'tools/train.py'), config,
        '--work-dir', str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file()
    return dict(ckpt=str(ckpt), work_dir=str(work_dir), config=config,
                images=[str(p) for p in images])
