"""The lint that pre-commit runs (flake8 + isort, settings in setup.cfg) runs
in the suite too, so CI fails on an unused import or an unsorted block."""
from __future__ import annotations

import subprocess
import sys

from repo_helpers import REPO_ROOT

PATHS = ['gtsa_plugin', 'tools', 'tests', 'configs', 'setup.py']


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', *args], cwd=REPO_ROOT,
                          capture_output=True, text=True)


def test_flake8_passes():
    res = _run('flake8', *PATHS)
    assert res.returncode == 0, res.stdout + res.stderr


def test_isort_passes():
    res = _run('isort', '--check-only', '--diff', *PATHS)
    assert res.returncode == 0, res.stdout + res.stderr
