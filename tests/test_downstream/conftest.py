"""Fixtures of the downstream tests: a tiny pretraining checkpoint, the
synthetic datasets and the repo's CLI entry points."""
from __future__ import annotations

import pytest
from downstream_helpers import (NUM_CLASSES, load_tool,
                                save_pretrain_checkpoint, tiny_vit)


@pytest.fixture(scope='session')
def pretrain_ckpt(gtsa_demo_ckpt) -> str:
    """A real pretraining checkpoint: the GTSA demo config trained through
    tools/train.py (see tests/conftest.py)."""
    return gtsa_demo_ckpt['ckpt']


@pytest.fixture(scope='session')
def two_source_ckpt(tmp_path_factory) -> str:
    """A tiny-ViT pretraining checkpoint whose student (seed 0, under
    ``backbone.``) and teacher (seed 1, under ``target_net.module.0.``)
    differ everywhere, so loading tests can tell which one was taken."""
    path = str(tmp_path_factory.mktemp('pretrain') / 'pretrain_tiny.pth')
    return save_pretrain_checkpoint(path, tiny_vit(0), tiny_vit(1))


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory) -> dict:
    """Synthetic scenes in COCO, ADE20K and ImageNet-folder layouts."""
    from gtsa_plugin.datasets.synthetic import generate_synthetic_scenes
    root = str(tmp_path_factory.mktemp('synthetic') / 'scenes')
    return generate_synthetic_scenes(
        root, num_images=8, seed=0, image_size=(192, 144),
        num_classes=NUM_CLASSES, val_fraction=0.25)


@pytest.fixture(scope='session')
def cli():
    """``tools/train.py`` and ``tools/test.py`` loaded as modules, so tests
    call their ``main(argv)`` in-process (the real CLI code, without paying
    the toolkit imports per run)."""
    return dict(train=load_tool('tools/train.py'),
                test=load_tool('tools/test.py'))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run the downstream tests on one intra-op thread.

    Why: the models here are tiny, and on a small, shared CI machine
    OpenMP threads contending for the cores made a Mask R-CNN step ~10x
    slower than a single thread does.
    """
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Give the next tests the default registry scope they had.

    Why: these tests switch to the mmdet and mmseg scopes (directly and
    through the Runner), and registry look-ups elsewhere in the suite
    resolve through the current default scope.
    """
    from mmengine.registry import DefaultScope, init_default_scope
    before = DefaultScope.get_current_instance()
    yield
    after = DefaultScope.get_current_instance()
    if before is not None and (after is None
                               or after.scope_name != before.scope_name):
        init_default_scope(before.scope_name)
