#!/usr/bin/env bash
# The paper's comparison from the shipped halfcheetah-medium-replay agent, at the authors'
# online settings (warmup 5,000 where the algo has one, batch 1,024 at UTD 4, Polyak 0.005, the
# paper's networks), 35,000 env steps (30,000 after the warmup), 10 evaluation episodes every
# 1,000 env steps; compiled update, bf16 autocast, one thread per run.
#
# usage: [ALGOS="algo ..."] bash docs/results/comparison/run.sh CODE OUT SEED...
#   CODE: a checkout of the package to run (a worktree at a fixed commit: later edits of the
#         working tree cannot change the runs); OUT: where the run directories go.
# Runs (seed, algo) one after another: a finished run (summary.json) is skipped, a killed one
# resumes from its latest run checkpoint, one killed before its first checkpoint starts over.
# Two cores: one call per core with disjoint seeds.
set -u
CODE=$1 OUT=$2
shift 2
read -ra ALGOS <<< "${ALGOS:-wsrl wsrl_no_warmup calql_online rlpd}"   # ALGOS="wsrl rlpd" runs only those
export PYTHONPATH=$CODE OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
cd "$CODE" || exit 1
for seed in "$@"; do
  for algo in "${ALGOS[@]}"; do
    dir=$OUT/${algo}_seed$seed
    if [[ -f $dir/summary.json ]]; then
      continue
    elif compgen -G "$dir/checkpoints/checkpoint-*" > /dev/null; then
      echo "$(date -Is) resume $dir"
      python -m torchrl_wsrl.train resume="$dir"
    else
      [[ -d $dir ]] && mv "$dir" "$dir.killed-$(date +%s)"   # killed before its first checkpoint
      echo "$(date -Is) start $dir"
      python -m torchrl_wsrl.train task=halfcheetah-medium-replay algo="$algo" seed="$seed" \
        train.online_steps=35000 train.eval_every=1000 train.eval_episodes=10 threads=1 \
        checkpoint.online_every=5000 hydra.run.dir="$dir"
    fi
  done
done
