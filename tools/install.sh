#!/usr/bin/env bash
# The project's one installer (make install/test/demo, CI). Idempotent, and
# meant to take seconds when the environment is already complete, so every
# step first checks whether its pip call would change anything.
#
# Order matters: mmcv's ops are compiled against torch, so torch comes first;
# mmcv comes before `pip install -e .`, because pip on its own would try to
# build mmcv's sdist and fail (see tools/install_mmcv.sh).
#
# Package sources (PIP_FIND_LINKS, index URLs, constraints) are taken from
# the caller's pip configuration and environment, unchanged.
#
# PYTHON=... selects the interpreter (default: python).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
[[ $PYTHON != */* || $PYTHON == /* ]] || PYTHON=$PWD/$PYTHON  # we cd below
export PYTHON  # so that install_mmcv.sh installs for the same interpreter
PIP=("$PYTHON" -m pip)
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1

log() { echo "[install] $*"; }

# pip runs from the repository root, so that a relative PIP_FIND_LINKS (as CI
# sets it) means the same whatever directory this script was started from.
cd "$REPO"

# Checks run from / so that the checkout itself (on sys.path as the current
# directory) cannot pass for an installed package.
py() { (cd / && "$PYTHON" "$@"); }

# 1. torch. Import it rather than read metadata: a torch that does not
# import is not installed. Local version tags (+cu130, +cpu) are accepted.
if py - "$TORCH_VERSION" "$TORCHVISION_VERSION" <<'EOF'
import sys

import torch
import torchvision

found = (torch.__version__.split('+')[0], torchvision.__version__.split('+')[0])
print(f'[install] found torch {torch.__version__}, '
      f'torchvision {torchvision.__version__}')
sys.exit(found != tuple(sys.argv[1:3]))
EOF
then
    log "torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION present, skipping"
else
    log "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
    "${PIP[@]}" install "torch==$TORCH_VERSION" \
        "torchvision==$TORCHVISION_VERSION"
fi

# 2. mmcv with compiled ops.
bash "$REPO/tools/install_mmcv.sh"

# 3. The rest of the pinned stack and this package (editable). The check
# reads the same requirement files setup.py does, so a pin changed there is
# picked up here; it imports the OpenMMLab packages, which also catches a
# missing dependency of theirs.
stack_ok() {
    py - "$REPO" <<'EOF'
import importlib
import importlib.metadata as md
import importlib.util
import os
import sys

from packaging.requirements import Requirement

repo = sys.argv[1]
problems = []
for name in ('runtime.txt', 'tests.txt'):
    with open(os.path.join(repo, 'requirements', name)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line:
                continue
            req = Requirement(line)
            if req.marker and not req.marker.evaluate():
                continue
            try:
                version = md.version(req.name)
            except md.PackageNotFoundError:
                problems.append(f'{req.name} missing')
                continue
            if not req.specifier.contains(version, prereleases=True):
                problems.append(f'{req.name} {version} is not {req.specifier}')

# Import what the plugin, its tools and its downstream configs use, not just
# the top-level packages: mmseg 1.2.2 imports undeclared modules (ftfy,
# regex) only from mmseg.utils, which `import mmseg` never reaches.
for module in ('mmengine.runner', 'mmcv.ops', 'mmcv.transforms',
               'mmpretrain.models', 'mmpretrain.datasets',
               'mmpretrain.evaluation', 'mmdet.models', 'mmdet.datasets',
               'mmdet.evaluation', 'mmseg.models', 'mmseg.datasets',
               'mmseg.evaluation', 'mmseg.utils', 'pycocotools.coco',
               'pycocotools.cocoeval', 'pytest'):
    try:
        importlib.import_module(module)
    except Exception as e:  # any failure means "needs pip"
        problems.append(f'import {module}: {type(e).__name__}: {e}')

# The package must resolve to this checkout (editable install), not to a
# copy in site-packages or another clone. Only located, not imported: a bug
# in the package under development is not something pip can fix.
spec = importlib.util.find_spec('gtsa_plugin')
here = os.path.realpath(os.path.join(repo, 'gtsa_plugin'))
try:
    md.version('gtsa_plugin')  # found via PYTHONPATH alone is not installed
except md.PackageNotFoundError:
    spec = None
if spec is None or not spec.submodule_search_locations:
    problems.append('gtsa_plugin is not installed')
elif here not in map(os.path.realpath, spec.submodule_search_locations):
    problems.append(f'gtsa_plugin resolves to '
                    f'{list(spec.submodule_search_locations)}, not {here}')

for p in problems:
    print(f'[install]   {p}')
sys.exit(bool(problems))
EOF
}

if stack_ok; then
    log "pinned stack and editable gtsa_plugin present, skipping pip"
else
    log "installing the pinned stack and gtsa_plugin (editable) from $REPO"
    "${PIP[@]}" install -e ".[tests]"
    # pip only knows declared requirements: check again, so that an
    # undeclared one fails here, named, and not in the middle of the tests.
    if ! stack_ok; then
        log "the environment is still incomplete after pip (above); add the"
        log "missing package to requirements/runtime.txt"
        exit 1
    fi
fi
log "done"
