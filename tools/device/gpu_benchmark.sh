#!/usr/bin/env bash
# GTSA and DINO ViT-S/16 benchmarks on the GPU machine (batch 64, fp16 AMP):
# full step vs the backbone-only floor, plus the data pipeline per worker.
#
# Prepare here:  bash tools/device/prepare_gpu_wheels.sh
# Run there (device tool, carry ['.whl'], timeout ~ 540 s):
#   bash tools/device/gpu_benchmark.sh
# JSON, tables and profiles land in $OUT (or ./bench_out without it): 7
# files (imports.txt, gpu.txt, per algorithm .json and .txt, GTSA's
# .profile.txt), within the device tool's 8-file limit.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench_out}
mkdir -p "$OUT"
ITERS=${ITERS:-30}
WARMUP=${WARMUP:-5}
BATCH=${BATCH:-64}

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site \
  || exit 1
export PYTHONUNBUFFERED=1

# The pretraining path must import without mmcv._ext, mmdet or mmseg.
python3 - <<'PY' 2>&1 | tee "$OUT/imports.txt" || exit 1
import sys
import gtsa_plugin  # noqa: F401
from mmpretrain.utils import register_all_modules
register_all_modules(init_default_scope=False)
import mmcv, mmengine, mmpretrain, torch, torchvision
print('imports ok: mmengine', mmengine.__version__, 'mmcv', mmcv.__version__,
      'mmpretrain', mmpretrain.__version__, 'torch', torch.__version__,
      'torchvision', torchvision.__version__,
      'mmcv._ext loaded:', 'mmcv._ext' in sys.modules,
      'mmdet:', 'mmdet' in sys.modules, 'mmseg:', 'mmseg' in sys.modules)
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
  > "$OUT/gpu.txt" 2>&1

rc=0
for algo in gtsa dino; do
  # GTSA: also the torch.profiler summary (saved next to the JSON) and its
  # pipeline against DINO's, interleaved image by image.
  extra=(--flops)
  [ "$algo" = gtsa ] && extra+=(--profile \
    --compare-pipeline configs/dino_vit-s_coco.py --pipeline-passes 2)
  python3 tools/benchmark.py "configs/${algo}_vit-s_coco.py" --device cuda \
    --amp --batch-size "$BATCH" --iters "$ITERS" --warmup "$WARMUP" \
    --pipeline-images 32 --out "$OUT/${algo}_vit-s_b${BATCH}_amp.json" \
    "${extra[@]}" 2>&1 | grep -v -E 'WARNING|UserWarning|warnings.warn' \
    | tee "$OUT/${algo}_vit-s_b${BATCH}_amp.txt" || rc=1
done
exit $rc
