"""The comparison's table of runs, finished or not (``torchrl_wsrl.report.load_run`` of each).

usage: python docs/results/comparison/status.py RUNS_DIR   (docs/results/comparison/runs, or the live OUT)

Per run: the shipped agent's score (env step 0; none where the algo starts from scratch), the score after the warmup (with its evaluation
noise, the std over the episodes), the dip (:meth:`torchrl_wsrl.report.Run.dip`, the lowest
evaluation over the first 20% of the online updates) and where it fell, the scores at 10k and
30k env steps, the end (or the latest evaluation of an unfinished run, one without
``summary.json``) and the wall time of a finished run.
"""
from __future__ import annotations

import sys
from pathlib import Path

from torchrl_wsrl.plotting import read_metrics
from torchrl_wsrl.report import Run, load_run

ORDER = ["wsrl", "wsrl_no_warmup", "calql_online", "rlpd", "wsrl_policy_only"]


def row(run: Path) -> str:
    r: Run = load_run(run)
    score = r.timeline["score"]
    # the evaluation noise is not a report column; later rows win, as in Run.timeline
    std = {int(m["env_step"]): float(m["score_std"]) for m in read_metrics(run / "metrics.csv") if m["score_std"]}
    last = r.last_env_step
    dip = r.dip()
    dip_step = next((s for s, v in score.items() if v == dip and s > r.updates_from), None)
    at = lambda step: f"{score[step]:.1f}" if step in score else "not yet"  # noqa: E731  (an unfinished run)
    if r.finished:
        end, wall = f"**{score[last]:.1f} +- {std[last]:.1f}**", f"{r.wall_time_s / 60:.0f} min"
    else:
        end, wall = f"(at {last:,}: {score[last]:.1f})", "unfinished"
    cells = [
        f"`{r.algo}`", str(r.seed), f"{r.after_pretraining:.1f}" if r.after_pretraining is not None else "- (from scratch)",
        f"{r.after_warmup:.1f} +- {std[r.warmup_steps]:.1f}" if r.after_warmup is not None else "-",
        f"{dip:.1f} (at {dip_step:,})" if dip is not None else "",
        at(10_000), at(30_000), end, wall,
    ]
    return "| " + " | ".join(cells) + " |"


def main(root: Path) -> None:
    runs = [load_run(p).path for p in sorted(root.glob("*_seed*")) if ".killed-" not in p.name]
    runs.sort(key=lambda p: (ORDER.index(p.name.rsplit("_seed", 1)[0]), int(p.name.rsplit("_seed", 1)[1])))
    print("| algo | seed | shipped agent | after warmup | dip (lowest over the first 20% of the "
          "online updates) | at 10k | at 30k | end (35k) | wall time |")
    print("|---" * 9 + "|")
    for run in runs:
        print(row(run))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
