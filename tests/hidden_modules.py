"""Child processes that run as if some packages were not installed."""
from __future__ import annotations

import os
import os.path as osp
from typing import Iterable


def hide(packages: Iterable[str], folder: str, env: dict) -> dict:
    """``env`` with ``folder`` first on PYTHONPATH, holding for each name in
    ``packages`` a package whose import raises ``ModuleNotFoundError``
    exactly as a missing one does (same type, same ``name``)."""
    for name in packages:
        os.makedirs(osp.join(folder, name), exist_ok=True)
        with open(osp.join(folder, name, '__init__.py'), 'w') as f:
            f.write(f'raise ModuleNotFoundError("No module named {name!r} '
                    f'(hidden by the test)", name={name!r})\n')
    out = dict(env)
    out['PYTHONPATH'] = os.pathsep.join(
        [folder] + [p for p in [out.get('PYTHONPATH')] if p])
    return out
