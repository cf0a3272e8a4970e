#!/usr/bin/env bash
# Copy the comparison's run directories into the repository at the end of a session: every
# run's config.yaml, metrics.csv, summary.json (when finished), learning_curve.png and .hydra/,
# and the latest run checkpoint of an unfinished one (to resume next session: copy the folder
# back to OUT/<algo>_seed<k> and run run.sh again).
# usage: bash docs/results/comparison/collect.sh OUT [DEST]
set -eu
OUT=$1 DEST=${2:-$(dirname "$0")/runs}
for dir in "$OUT"/*_seed*; do
  [[ -d $dir && $dir != *.killed-* ]] || continue
  name=$(basename "$dir") target=$DEST/$(basename "$dir")
  rm -rf "$target" && mkdir -p "$target"
  for f in config.yaml metrics.csv summary.json learning_curve.png train.log; do
    [[ -f $dir/$f ]] && cp "$dir/$f" "$target/"
  done
  [[ -d $dir/.hydra ]] && cp -r "$dir/.hydra" "$target/"
  if [[ ! -f $dir/summary.json ]]; then
    latest=$(ls -d "$dir"/checkpoints/checkpoint-* 2>/dev/null | sort | tail -1)
    [[ -n $latest ]] && mkdir -p "$target/checkpoints" && cp -r "$latest" "$target/checkpoints/"
  fi
  echo "$name: $(tail -1 "$dir/metrics.csv" 2>/dev/null | cut -d, -f1-5)"
done
