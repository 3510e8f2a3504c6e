#!/usr/bin/env bash
# GTSA and DINO ViT-S/16 benchmarks on the GPU machine (batch 64): full
# step vs the architecture floor vs the backbone floor, fp16 and bf16 AMP
# eager, and compiled (cfg.compile's route) in the precisions of
# COMPILE_PRECISIONS; images/s, peak memory and model FLOP utilisation.
#
# Prepare here:  bash tools/device/prepare_gpu_wheels.sh
# Run there (device tool, carry ['.whl'], timeout ~ 580 s):
#   bash tools/device/gpu_benchmark.sh
# Results in $OUT (or ./bench_out without it), 4 files: imports.txt,
# gpu.txt, summary.txt (one table of all runs) and results.tar.gz (every
# run's JSON and printed table, GTSA bf16's profile).
#
# MFU = FLOPs per step (torch's flop counter on the eager step of the same
# algorithm and precision) / step time / PEAK_TFLOPS (dense bf16/fp16 peak;
# H200: 989 by spec, ~790 measured by matmul benchmarks; both are shown).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench_out}
mkdir -p "$OUT"
RUNS=$(mktemp -d)
ITERS=${ITERS:-20}
WARMUP=${WARMUP:-5}
BATCH=${BATCH:-64}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
MEASURED_TFLOPS=${MEASURED_TFLOPS:-790}
COMPILE_PRECISIONS=${COMPILE_PRECISIONS:-bf16}

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
run() {  # algo precision compiled
  local algo=$1 prec=$2 comp=$3 name="$1_vit-s_b${BATCH}_$2"
  local args=(--device cuda --precision "$prec" --batch-size "$BATCH" --iters "$ITERS"
              --warmup "$WARMUP" --skip-pipeline)
  if [ "$comp" = 1 ]; then
    name+=_compiled
    args+=(--compile)
  else
    args+=(--flops --peak-tflops "$PEAK_TFLOPS")
    [ "$algo-$prec" = gtsa-bf16 ] && args+=(--profile --profile-iters 3)
  fi
  echo "== $name" | tee -a "$OUT/summary.txt"
  timeout 300 python3 tools/benchmark.py "configs/${algo}_vit-s_coco.py" \
    "${args[@]}" --out "$RUNS/$name.json" 2>&1 \
    | grep -v -E 'WARNING|UserWarning|warnings.warn' > "$RUNS/$name.txt" \
    || { rc=1; tail -5 "$RUNS/$name.txt" | tee -a "$OUT/summary.txt"; }
}
for algo in gtsa dino; do
  for prec in fp16 bf16; do run "$algo" "$prec" 0; done
done
for prec in $COMPILE_PRECISIONS; do
  for algo in gtsa dino; do run "$algo" "$prec" 1; done
done

python3 - "$RUNS" "$PEAK_TFLOPS" "$MEASURED_TFLOPS" <<'PY' \
  | tee -a "$OUT/summary.txt"
import glob, json, os, sys
runs, peak, measured = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
res = {}
for path in sorted(glob.glob(os.path.join(runs, '*.json'))):
    name = os.path.basename(path)[:-5]
    with open(path) as f:
        res[name] = json.load(f)
print(f'{"run":<34} {"setup":<11} {"img/s":>8} {"s/step":>8} '
      f'{"peak GiB":>9} {"MFU spec":>9} {"MFU meas":>9} {"full/x":>7}')
for name, r in res.items():
    flops_src = res.get(name.replace('_compiled', ''), {})
    for setup, p, ratio in (('floor', 'floor_', r.get('ratio')),
                            ('arch floor', 'arch_floor_', r.get('arch_ratio')),
                            ('full', '', None)):
        step = r.get(f'{p}step_s')
        gflops = flops_src.get(f'{p}gflops')
        if step is None:
            continue
        tflops = gflops / step / 1e3 if gflops else None
        mem = r.get(f'{p}peak_mem_gib')
        fmt = lambda v, s: '-' if v is None else format(v, s)
        print(f'{name:<34} {setup:<11} {r["batch_size"] / step:8.1f} '
              f'{step:8.4f} {fmt(mem, "9.2f")} '
              f'{fmt(tflops and 100 * tflops / peak, "8.1f")}% '
              f'{fmt(tflops and 100 * tflops / measured, "8.1f")}% '
              f'{fmt(ratio, "6.3f")}x')
PY
tar -czf "$OUT/results.tar.gz" -C "$RUNS" . && rm -rf "$RUNS"
exit $rc
