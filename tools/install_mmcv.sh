#!/usr/bin/env bash
# Install mmcv 2.1.0 *with* its compiled ops (mmcv._ext) into the current
# Python environment.
#
# Why a script and not just `pip install mmcv==2.1.0`: PyPI carries only the
# sdist for 2.1.0, and that sdist does not build against this stack as is:
#   * its setup.py imports pkg_resources, which the setuptools torch 2.14
#     requires (>=77) no longer ships, so the build has to see an old
#     setuptools -- without downgrading the environment's own setuptools,
#     which torch declares as a dependency;
#   * it hard-codes -std=c++14/-std=c++17, and torch 2.14's headers refuse
#     anything older than C++20.
# A build takes 25-45 minutes on 2 cores, so a matching prebuilt wheel (found
# through the caller's PIP_FIND_LINKS / index settings) is tried first.
#
# Knobs (environment variables):
#   MMCV_FORCE_BUILD=1      skip the "already installed" and "prebuilt wheel"
#                           shortcuts and always build from the sdist.
#   MMCV_BUILD_WHEEL_DIR=D  build the wheel into D and leave the environment
#                           alone (implies MMCV_FORCE_BUILD=1: a wheel was
#                           asked for, and the shortcuts would install).
#   FORCE_CUDA=1            also build the CUDA ops (needs nvcc; untested here).
#                           By default only CPU ops are built.
#   MAX_JOBS=N              parallel compile jobs (default: nproc).
#   MMCV_BUILD_VERBOSE=1    show the compiler output while building.
#   PYTHON=...              interpreter to install for (default: python).
set -euo pipefail

MMCV_VERSION=2.1.0
PYTHON=${PYTHON:-python}
WHEEL_DIR=${MMCV_BUILD_WHEEL_DIR:-}
FORCE_BUILD=${MMCV_FORCE_BUILD:-0}
if [[ -n $WHEEL_DIR ]]; then
    FORCE_BUILD=1
fi
# Relative paths are meant from where we were started; we cd away below.
[[ $WHEEL_DIR == "" || $WHEEL_DIR == /* ]] || WHEEL_DIR=$PWD/$WHEEL_DIR
[[ $PYTHON != */* || $PYTHON == /* ]] || PYTHON=$PWD/$PYTHON
PIP=("$PYTHON" -m pip)

log() { echo "[install_mmcv] $*"; }

# pip runs from the repository root, so that a relative PIP_FIND_LINKS (as CI
# sets it) means the same whatever directory this script was started from.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# mmcv's runtime requirements come first: every check below imports mmcv,
# and a prebuilt wheel (or the one built here, installed with --no-deps)
# brings none of them. Without them a check fails for a reason that no build
# of mmcv can fix.
REQS=$PWD/requirements/mmcv.txt
missing_reqs() {
    (cd / && "$PYTHON" - "$REQS" <<'EOF'
import importlib.metadata as md
import sys

try:
    from packaging.requirements import Requirement
except ModuleNotFoundError:  # a new venv has no packaging
    print('packaging (needed to check the rest)')
    sys.exit(1)

missing = []
with open(sys.argv[1]) as f:
    for line in f:
        line = line.split('#')[0].strip()
        if not line:
            continue
        req = Requirement(line)
        try:
            if not req.specifier.contains(md.version(req.name), True):
                missing.append(line)
        except md.PackageNotFoundError:
            missing.append(line)
print(' '.join(missing))
sys.exit(bool(missing))
EOF
    )
}
if missing=$(missing_reqs 2>&1); then
    log "mmcv's runtime requirements present"
else
    log "installing mmcv's runtime requirements: $missing"
    "${PIP[@]}" install -r "$REQS"
fi
# Each must also import; a failure here is the environment's, not mmcv's.
if ! out=$(cd / && "$PYTHON" -c \
        'import addict, cv2, mmengine, numpy, packaging, PIL, yaml, yapf' 2>&1)
then
    log "a requirement of mmcv is installed but does not import:"
    log "  $(tail -n 1 <<<"$out")"
    log "fix that first (opencv-python needs libGL.so.1: apt-get install" \
        "libgl1); not building mmcv, which would not help"
    exit 1
fi

# Importing mmcv._ext is not enough to trust a build: run a real op, too.
# Run from / so that an mmcv source tree in the current directory cannot
# shadow the installed package. Exit status 3: a module outside mmcv is
# missing, which no build of mmcv can fix.
ops_work() {
    (cd / && "$PYTHON" - "$MMCV_VERSION" <<'EOF'
import sys

try:
    import torch

    import mmcv
    import mmcv._ext  # noqa: F401
    from mmcv.ops import nms
except ModuleNotFoundError as e:
    if e.name and e.name.split('.')[0] != 'mmcv':
        print(f'missing dependency: no module named {e.name!r}')
        sys.exit(3)
    raise

assert mmcv.__version__ == sys.argv[1], f'mmcv {mmcv.__version__} found'
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                      [20., 20., 30., 30.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
print(f'mmcv {mmcv.__version__} with ops from {mmcv.__path__[0]} '
      f'(torch {torch.__version__})')
EOF
    )
}

# Keeps the last line of a failed check: enough to say why we go on. A
# missing dependency stops the script instead of starting a build.
check_ops() {
    local out rc=0
    out=$(ops_work 2>&1) || rc=$?
    if [[ $rc == 0 ]]; then
        log "$(tail -n 1 <<<"$out")"
        return 0
    fi
    if [[ $rc == 3 ]]; then
        log "cannot check mmcv: $(tail -n 1 <<<"$out"); install it and" \
            "rerun (building mmcv would not fix this)"
        exit 1
    fi
    log "mmcv ops not usable: $(tail -n 1 <<<"$out")"
    return 1
}

# (a) Nothing to do when a working mmcv with ops is already there.
if [[ $FORCE_BUILD != 1 ]]; then
    if check_ops; then
        log "already installed, skipping"
        exit 0
    fi

    # (b) A prebuilt wheel. --only-binary keeps pip from falling back to the
    # sdist build that fails as described above; --force-reinstall replaces
    # an installed mmcv 2.1.0 whose ops are missing or broken.
    log "looking for a prebuilt mmcv==$MMCV_VERSION wheel" \
        "(PIP_FIND_LINKS=${PIP_FIND_LINKS:-<unset>})"
    if "${PIP[@]}" install --no-deps --force-reinstall \
        --only-binary=mmcv "mmcv==$MMCV_VERSION"; then
        if check_ops; then
            log "installed from a prebuilt wheel"
            exit 0
        fi
        log "the prebuilt wheel's ops do not load (built for another" \
            "torch?); building from source instead"
    else
        log "no prebuilt wheel found; building from source"
    fi
fi

# (c) Build from the sdist.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
log "building mmcv $MMCV_VERSION from source in $TMP" \
    "(25-45 minutes on 2 cores)"

# setuptools<70 still has pkg_resources, and needs `wheel` for bdist_wheel
# (wheel>=0.46 expects setuptools>=70.1 to provide it). Installed off to the
# side and put first on PYTHONPATH for the build commands only, so the
# environment keeps the setuptools torch asks for.
"${PIP[@]}" install --quiet --no-warn-conflicts --target "$TMP/buildtools" \
    "setuptools<70" "wheel<0.46"

build_env=(
    env
    PYTHONPATH="$TMP/buildtools${PYTHONPATH:+:$PYTHONPATH}"
    MMCV_WITH_OPS=1
    MAX_JOBS="${MAX_JOBS:-$(nproc)}"
)
if [[ ${FORCE_CUDA:-0} == 1 ]]; then
    build_env+=(FORCE_CUDA=1)
else
    # mmcv builds CUDA ops whenever torch sees a GPU; hiding the devices
    # keeps the build CPU-only (and hours shorter) on GPU hosts, too.
    build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
fi

# Even `pip download` prepares the sdist's metadata, i.e. runs its setup.py,
# so it needs the old setuptools as well.
"${build_env[@]}" "${PIP[@]}" download --no-deps --no-binary=mmcv \
    --no-build-isolation -d "$TMP" "mmcv==$MMCV_VERSION"
tar -xzf "$TMP/mmcv-$MMCV_VERSION.tar.gz" -C "$TMP"
SRC=$TMP/mmcv-$MMCV_VERSION

# Raise every hard-coded C++ standard (gcc/nvcc and MSVC spellings) to C++20.
"$PYTHON" - "$SRC/setup.py" <<'EOF'
import pathlib
import re
import sys

path = pathlib.Path(sys.argv[1])
text, n = re.subn(r'([-/]std[=:])c\+\+1[47]\b', r'\1c++20', path.read_text())
if not n:
    sys.exit(f'{path}: no -std=c++14/17 flag found; has the sdist changed?')
path.write_text(text)
print(f'[install_mmcv] setup.py: {n} C++ standard flags set to C++20')
EOF

# --no-build-isolation: the build must compile against the torch installed
# here (an isolated build would fetch some other torch) and see the old
# setuptools from PYTHONPATH.
"${build_env[@]}" "${PIP[@]}" wheel --no-deps --no-build-isolation \
    ${MMCV_BUILD_VERBOSE:+-v} -w "$TMP/dist" "$SRC"
wheels=("$TMP"/dist/mmcv-"$MMCV_VERSION"-*.whl)
WHEEL=${wheels[0]}
log "built $(basename "$WHEEL")"

# Prove the wheel works before it goes anywhere: unpack it to a scratch
# directory that shadows any installed mmcv.
"${PIP[@]}" install --quiet --no-deps --no-warn-conflicts \
    --target "$TMP/verify" "$WHEEL"
if ! PYTHONPATH="$TMP/verify${PYTHONPATH:+:$PYTHONPATH}" check_ops; then
    log "the freshly built wheel does not work; giving up"
    exit 1
fi

if [[ -n $WHEEL_DIR ]]; then
    mkdir -p "$WHEEL_DIR"
    cp "$WHEEL" "$WHEEL_DIR/"
    log "wheel written to $WHEEL_DIR/$(basename "$WHEEL");" \
        "environment left unchanged"
    exit 0
fi

"${PIP[@]}" install --no-deps --force-reinstall "$WHEEL"
check_ops
log "installed from source"
