"""Paths of the repository and the one way tests load a ``tools/`` script.

Tests import this as a top-level module (pytest puts ``tests/`` on
``sys.path``)."""
from __future__ import annotations

import importlib.util
import os.path as osp
import sys
from types import ModuleType

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
GTSA_DEMO = osp.join(REPO_ROOT, 'configs', 'gtsa_vit-tiny_demo.py')
DINO_DEMO = osp.join(REPO_ROOT, 'configs', 'dino_vit-tiny_demo.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')


def load_tool(relpath: str) -> ModuleType:
    """Import a script under ``tools/`` as a module (tools are not a
    package), so tests call its functions and ``main(argv)`` in-process:
    the real CLI code without paying the toolkit imports per call.

    ``relpath`` is relative to the repo (``'tools/train.py'``); the module
    is imported once per process."""
    path = osp.join(REPO_ROOT, relpath)
    name = 'tool_' + relpath.replace('/', '_').replace('.py', '')
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def arch_fields(arch) -> dict:
    """The four numbers of a ViT ``arch``: a dict as is, a name (the
    configs' ``'deit-small'``) through mmpretrain's ``arch_zoo``."""
    from mmpretrain.models import VisionTransformer
    if isinstance(arch, str):
        return dict(VisionTransformer.arch_zoo[arch.lower()])
    return dict(arch)
