"""README command 1 on several seeds: the picture (``main-job.png``) and the table of
``main-job.md``, from each run's ``metrics.csv``.

usage: python docs/results/main_job.py RUN_DIR [RUN_DIR ...]

Per seed: the score after pre-training (the shipped agent), after the warmup, the lowest
evaluation after the warmup, at the end, each with its evaluation noise (std over the 20
episodes), and the two checks of issue 21: every evaluation after the warmup at or above 80%
of the score after the warmup, and the end above the score after the warmup.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from torchrl_wsrl.plotting import read_metrics  # noqa: E402

HERE = Path(__file__).resolve().parent


def seed_row(run_dir: Path) -> tuple[int, dict, list[dict]]:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    rows = [r for r in read_metrics(run_dir / "metrics.csv") if r["score"]]
    start, warm = rows[0], next(r for r in rows if r["phase"] == "warmup")
    online = [r for r in rows if r["phase"] == "online"]
    after = float(warm["score"])
    lowest = min(online, key=lambda r: float(r["score"]))
    end = online[-1]
    return config["seed"], {
        "after pre-training": f"{float(start['score']):.1f} +- {float(start['score_std']):.1f}",
        "after warmup": f"{after:.1f} +- {float(warm['score_std']):.1f}",
        "lowest after warmup": f"{float(lowest['score']):.1f} (at {int(lowest['env_step']):,})",
        "at the end": f"{float(end['score']):.1f} +- {float(end['score_std']):.1f}",
        "end - after warmup": f"{float(end['score']) - after:+.1f}",
        "all >= 80% of after warmup": "yes" if float(lowest["score"]) >= 0.8 * after else "no",
        "end > after warmup": "yes" if float(end["score"]) > after else "no",
        "wall time": f"{float(end['wall_time_s']) / 60:.1f} min",
    }, rows


def main(run_dirs: list[Path]) -> None:
    seeds = sorted((seed_row(Path(d)) for d in run_dirs), key=lambda s: s[0])
    columns = list(seeds[0][1])
    print("| seed | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for seed, row, _ in seeds:
        print(f"| {seed} | " + " | ".join(row[c] for c in columns) + " |")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for seed, _, rows in seeds:
        x = [int(r["env_step"]) for r in rows]
        y = [float(r["score"]) for r in rows]
        e = [float(r["score_std"]) for r in rows]
        ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=2, label=f"seed {seed}")
    warmup = int(next(r for r in seeds[0][2] if r["phase"] == "warmup")["env_step"])
    ax.axvspan(0, warmup, color="0.9", zorder=0)
    ax.text(warmup / 2, ax.get_ylim()[0] + 0.5, "warmup\n(no updates)", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("env steps (online phase)")
    ax.set_ylabel("normalized score (20 episodes)")
    ax.set_title("wsrl-train: WSRL online from the shipped halfcheetah-medium-replay agent", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / "main-job.png", dpi=120)
    print(f"wrote {HERE / 'main-job.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
