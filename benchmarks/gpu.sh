#!/usr/bin/env bash
# The GPU checks in one go, for a lent H100/H200 (device tool), in about 8 minutes:
#   1. the kernel tests with real Triton (no interpreter);
#   2. the update blocks (online, Cal-QL with the drawn-critic regulariser and with all
#      critics, single): eager, compiled, compiled + Triton, compiled + Triton + CUDA graphs,
#      bf16 eager / compiled; then the same in TF32;
#   3. the critic ensemble layer (reference vs Triton);
#   4. the online phase end to end (test_bench_e2e.py: env steps per second with the update
#      eager and compiled + CUDA graphs, host time per env step; needs the MuJoCo wheels).
# JSON goes to $OUT (the device tool's output folder; benchmarks/results here), one file per
# step; `python benchmarks/report.py FILE` renders each as RESULTS.md tables.
#
# On the device (after ../shared/tools/device-wheels.sh here, carry [".whl"]):
#   bash benchmarks/gpu.sh
# On a CPU (check mode: every step runs on tiny shapes, the kernels under TRITON_INTERPRET=1,
# the CUDA-only variants skip):
#   bash benchmarks/gpu.sh --cpu-check
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
source benchmarks/device_env.sh  # the wheels and the kernels link, on the device
if [[ ${1:-} == --cpu-check ]]; then
  export BENCH_QUICK=1 BENCH_THREADS=1
  tag=cpu-check
else
  python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: use --cpu-check')"
  tag=gpu
fi
bench=(python3 -m pytest -q -p no:cacheprovider --benchmark-disable-gc)

echo "== 1. kernel tests (real Triton on a GPU)"
timeout 150 python3 -m pytest tests/kernels tests/modules/test_critic_backend.py -q -p no:cacheprovider

echo "== 2. update blocks, fp32, then TF32"
timeout 240 "${bench[@]}" benchmarks/test_bench_update.py --benchmark-json="$OUT/$tag-update-fp32.json"
BENCH_TF32=1 timeout 120 "${bench[@]}" benchmarks/test_bench_update.py -k "(online or calql) and compiled and not bf16" \
  --benchmark-json="$OUT/$tag-update-tf32.json"

echo "== 3. critic ensemble layer"
timeout 60 "${bench[@]}" benchmarks/test_bench_critic.py --benchmark-json="$OUT/$tag-critic.json"

echo "== 4. online phase end to end"
timeout 150 "${bench[@]}" benchmarks/test_bench_e2e.py -k "online" --benchmark-json="$OUT/$tag-e2e.json"

for f in "$OUT/$tag"-*.json; do python3 benchmarks/report.py "$f" > "${f%.json}.md"; done
echo "done: $(ls "$OUT/$tag"-*)"
