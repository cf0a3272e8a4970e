#!/usr/bin/env bash
# The authors' pre-training (profile=paper: CQL, 10 critics 2x256, actor 2x256, 10 proposals,
# Polyak 0.005, no BC), 250k gradient steps, evaluated over 20 episodes every 10k steps, a run
# checkpoint every 10k; compiled update, bf16 autocast losses (fp32 weights / Adam), 1 thread.
# usage: bgjobs/pretrain.sh TASK [SEED] [key=value ...]   a new run under $CHECKOUT/runs/
#        bgjobs/pretrain.sh --resume RUN_DIR        go on with a killed run
# CHECKOUT: the separate checkout the run uses (/work/bg, commit 9920620, for the halfcheetah
# runs; /work/pt, commit 9f11207, for hopper-medium and walker2d-medium). pretrained=none: pre-train
# even where the package ships an agent for the task (added after the halfcheetah runs, whose
# commit 9920620 has no pretrained= key; hopper and walker2d had no shipped agent when started).
CHECKOUT=${CHECKOUT:-/work/bg}
cd "$CHECKOUT"
export PYTHONPATH="$CHECKOUT" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [[ $1 == --resume ]]; then
  exec python -m torchrl_wsrl.train resume="$2"
fi
exec python -m torchrl_wsrl.train task="$1" seed="${2:-0}" profile=paper pretrained=none train.online_steps=0 \
    train.pretrain_steps=250000 train.pretrain_eval_every=10000 checkpoint.pretrain_every=10000 \
    update_step.compile=true critic.precision=bf16 threads=1 runs_root="$CHECKOUT/runs" "${@:3}"
