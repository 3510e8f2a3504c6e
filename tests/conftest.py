"""Shared fixtures: synthetic scenes made once per session, registries."""
from __future__ import annotations

import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
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
