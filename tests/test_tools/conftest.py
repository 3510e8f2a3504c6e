"""Fixtures of the tool tests: a real demo checkpoint and the tools as
modules."""
from __future__ import annotations

import importlib.util
import os.path as osp
import sys
from types import ModuleType

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool_module(relpath: str) -> ModuleType:
    """Import a script under ``tools/`` as a module (tools are not a
    package), so tests call its functions and ``main(argv)`` in-process:
    the real CLI code without paying the toolkit imports per call."""
    path = osp.join(REPO_ROOT, relpath)
    name = 'tool_' + relpath.replace('/', '_').replace('.py', '')
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tool_module():
    """``tool_module('tools/analysis/plot_log.py')`` -> the imported script."""
    return load_tool_module
