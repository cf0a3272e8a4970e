"""The comparison's table of runs, finished or not, from their ``metrics.csv`` and ``summary.json``.

usage: python docs/results/comparison/status.py RUNS_DIR   (docs/results/comparison/runs, or the live OUT)

Per run: the shipped agent's score (step 0), the score after the warmup (with its evaluation
noise, the std over the episodes), the lowest evaluation over the first fifth of the online
evaluations (after the warmup where there is one), the scores at 10k and 30k env steps, the end
(or the latest evaluation of an unfinished run) and the wall time of a finished run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from torchrl_wsrl.plotting import read_metrics

ORDER = ["wsrl", "wsrl_no_warmup", "calql_online", "rlpd", "wsrl_policy_only"]


def algo_seed(run: Path) -> tuple[str, int]:
    algo, seed = run.name.rsplit("_seed", 1)
    return algo, int(seed)


def row(run: Path) -> str:
    algo, seed = algo_seed(run)
    rows = [r for r in read_metrics(run / "metrics.csv") if r["score"]]
    score = lambda r: float(r["score"])  # noqa: E731
    shipped = next(r for r in rows if r["phase"] == "pretrain")
    warm = next((r for r in rows if r["phase"] == "warmup"), None)
    online = [r for r in rows if r["phase"] == "online"]
    at = {int(r["env_step"]): f"{score(r):.1f}" for r in online}
    first_fifth = online[: len(online) // 5 + 1]
    low = min(first_fifth, key=score) if online else None
    summary = run / "summary.json"
    if summary.exists():
        end = f"**{score(online[-1]):.1f} +- {float(online[-1]['score_std']):.1f}**"
        wall = f"{json.loads(summary.read_text())['wall_times_s']['total'] / 60:.0f} min"
    else:
        last = online[-1] if online else (warm or shipped)
        end, wall = f"(at {int(last['env_step']):,}: {score(last):.1f})", "unfinished"
    cells = [
        f"`{algo}`", str(seed), f"{score(shipped):.1f}",
        f"{score(warm):.1f} +- {float(warm['score_std']):.1f}" if warm else "-",
        f"{score(low):.1f} (at {int(low['env_step']):,})" if low else "",
        at.get(10_000, ""), at.get(30_000, ""), end, wall,
    ]
    return "| " + " | ".join(cells) + " |"


def main(root: Path) -> None:
    runs = [p for p in root.iterdir() if p.is_dir() and "_seed" in p.name and ".killed-" not in p.name]
    runs.sort(key=lambda p: (ORDER.index(algo_seed(p)[0]), algo_seed(p)[1]))
    print("| algo | seed | shipped agent | after warmup | lowest after the first update "
          "| at 10k | at 30k | end (35k) | wall time |")
    print("|---" * 9 + "|")
    for run in runs:
        print(row(run))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
