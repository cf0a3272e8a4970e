#!/usr/bin/env bash
# Does the online collapse of the CPU-scale default job (online-collapse.md) appear at the
# paper's scale? One command for a lent GPU (device tool); it has not run yet (no GPU lent).
#
# Per seed (3 by default, run side by side on the one GPU): profile=paper on hopper-medium
# (10 critics and actor 2x256, CQL pre-training without BC warm start, warmup 5,000 env steps,
# online batch 1,024 at UTD 4), the update compiled and captured as CUDA graphs, then
# ONLINE_STEPS env steps evaluated every 1,000 (10 episodes): the collapse of the default job
# comes within the first 3,000 env steps of updates. What to read: each seed's score after
# pre-training, after the warmup and over the online evaluations (printed at the end; the runs'
# metrics.csv and plots are under $OUT/runs).
#
# On the device (after ../shared/tools/device-wheels.sh here, carry [".whl"]), e.g.
#   PRETRAIN_STEPS=100000 bash docs/results/hopper-medium/paper_scale_check.sh
# (the paper's 250,000 if the device time allows it: each run reports its pre-training
# throughput in its log). On a CPU, a check of the wiring on tiny step counts:
#   bash docs/results/hopper-medium/paper_scale_check.sh --cpu-check
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/paper_scale_check}
mkdir -p "$OUT"
source benchmarks/device_env.sh  # the wheels and the kernels link, on the device
SEEDS=${SEEDS:-"0 1 2"}
if [[ ${1:-} == --cpu-check ]]; then
  settings=(device=cpu threads=1 train.pretrain_steps=40 train.pretrain_eval_every=20 train.warmup_steps=50
            train.online_steps=120 train.online_batch_size=64 train.eval_every=30 train.eval_episodes=1)
else
  python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: use --cpu-check')"
  PRETRAIN_STEPS=${PRETRAIN_STEPS:-250000}
  settings=(device=cuda threads=4 update_step.compile=true update_step.cudagraphs=true
            train.pretrain_steps=$PRETRAIN_STEPS train.pretrain_eval_every=$((PRETRAIN_STEPS / 5))
            train.online_steps=${ONLINE_STEPS:-25000} train.eval_every=1000 train.eval_episodes=10)
fi
for seed in $SEEDS; do
  python3 -m torchrl_wsrl.train profile=paper task=hopper-medium pretrained=none seed="$seed" runs_root="$OUT/runs/seed$seed" \
    "${settings[@]}" > "$OUT/seed$seed.log" 2>&1 &
done
status=0
wait || status=$?
for seed in $SEEDS; do
  echo "== seed $seed"
  tail -n 12 "$OUT/seed$seed.log"
  python3 - "$OUT/runs/seed$seed" <<'EOF'
import csv, pathlib, sys
for path in pathlib.Path(sys.argv[1]).rglob("metrics.csv"):
    rows = [r for r in csv.DictReader(path.open()) if r.get("score")]
    print("scores (phase@env_step):", ", ".join(f"{r['phase']}@{r['env_step']} {float(r['score']):.1f}" for r in rows))
EOF
done
exit $status
