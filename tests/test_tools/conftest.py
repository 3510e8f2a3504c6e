"""Fixtures of the tool tests: a real demo checkpoint and the tools as
modules."""
from __future__ import annotations

import pytest
from repo_helpers import load_tool


@pytest.fixture(scope='session')
def tool_module():
    """``tool_module('tools/analysis/plot_log.py')`` -> the imported script."""
    return load_tool
