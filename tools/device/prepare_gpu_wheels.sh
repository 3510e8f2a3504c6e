#!/usr/bin/env bash
# Download the OpenMMLab wheels the GPU benchmark needs into .whl/ (repo
# root), for the device machines: CPython 3.12, manylinux x86_64, with torch,
# torchvision, numpy, opencv-python-headless, Pillow, PyYAML, rich, einops,
# matplotlib, packaging, click, markdown and zipp already installed, no
# network and no OpenMMLab package.
#
# Only pure-Python wheels are fetched (mmcv-lite: no compiled ops; the
# pretraining path uses torchvision's roi_align). Besides the three
# OpenMMLab packages, the set is what `import gtsa_plugin` + mmpretrain's
# register_all_modules() import and the machine lacks:
#   addict, yapf (+ platformdirs), termcolor   <- mmengine / mmcv
#   model-index (module `modelindex`, + ordered-set), importlib-metadata,
#   mat4py (mmpretrain.datasets imports it at module level) <- mmpretrain
# Versions are those the stack is tested with here; exactly one version of
# each (two would stop `pip install --no-index`).
#
#   bash tools/device/prepare_gpu_wheels.sh      # then carry .whl
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DEST=${DEST:-.whl}
mkdir -p "$DEST"

WHEELS=(
  mmengine==0.10.7
  mmcv-lite==2.1.0
  mmpretrain==1.2.0
  addict==2.4.0
  yapf==0.43.0
  platformdirs==4.14.8
  termcolor==3.3.0
  model-index==0.1.11
  ordered-set==4.1.0
  importlib-metadata==8.7.0
  mat4py==0.6.0
)

"$PYTHON" -m pip download --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 \
  -d "$DEST" "${WHEELS[@]}"

# Fail loudly on a duplicate distribution (e.g. an older .whl/ left behind).
dups=$(ls "$DEST"/*.whl | xargs -n1 basename | cut -d- -f1 \
  | tr 'A-Z-' 'a-z_' | sort | uniq -d)
if [ -n "$dups" ]; then
  echo "duplicate wheels in $DEST: $dups (keep one version each)" >&2
  exit 1
fi
du -ch "$DEST"/*.whl | tail -1
