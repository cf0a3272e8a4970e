"""The pre-training runs' status: ``curves.png`` (normalized score, and Q on the evaluation
episodes against their MC return, per 10k gradient steps) and ``status.md`` (the same figures as
a table, with the convergence rule of README.md), from each ``<task>/run/metrics.csv`` here.

    python docs/results/pretraining/status.py
"""
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA_SCORE = {"halfcheetah-medium": 41.2, "halfcheetah-medium-replay": 25.6, "hopper-medium": 47.0, "walker2d-medium": 68.3}  # docs/tasks.md
WINDOW, SPREAD = 3, 5.0  # evaluations at t - 20k, t - 10k, t; within 5 points


def rows(task: str) -> list[dict]:
    with open(HERE / task / "run" / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r["phase"] == "pretrain"]


def converged_at(task: str, table: list[dict]) -> int | None:
    scores = [float(r["score"]) for r in table]
    for end in range(WINDOW, len(scores) + 1):
        window = scores[end - WINDOW:end]
        if min(window) >= DATA_SCORE[task] and max(window) - min(window) <= SPREAD:
            return int(table[end - 1]["grad_step"])
    return None


def main() -> None:
    tasks = [t for t in DATA_SCORE if (HERE / t / "run" / "metrics.csv").is_file()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    lines = ["# Pre-training status", "", "Written by `status.py` from each run's `metrics.csv` (20 evaluation episodes per row).", ""]
    for task in tasks:
        table = rows(task)
        steps = [int(r["grad_step"]) / 1000 for r in table]
        (line,) = axes[0].plot(steps, [float(r["score"]) for r in table], "o-", label=task)
        axes[0].axhline(DATA_SCORE[task], color=line.get_color(), linestyle=":", label=f"{task} data ({DATA_SCORE[task]})")
        axes[1].plot(steps, [float(r["q_pred"]) for r in table], "o-", color=line.get_color(), label=f"{task}: predicted Q")
        axes[1].plot(steps, [float(r["q_mc_return"]) for r in table], "s--", color=line.get_color(), label=f"{task}: MC return")
        at = converged_at(task, table)
        lines += [f"## {task}", "", f"data's score {DATA_SCORE[task]}; converged: {'at %d steps' % at if at else 'not yet'}", "",
                  "| gradient steps | score +- std | Q on eval episodes | their MC return | wall time (h) |", "|---:|---:|---:|---:|---:|"]
        lines += [
            f"| {int(r['grad_step']):,} | {float(r['score']):.1f} +- {float(r['score_std']):.1f} | {float(r['q_pred']):.1f} | "
            f"{float(r['q_mc_return']):.1f} | {float(r['wall_time_s']) / 3600:.2f} |"
            for r in table
        ]
        lines.append("")
    axes[0].set(xlabel="gradient steps (thousands)", ylabel="normalized score", title="CQL pre-training, paper settings")
    axes[1].set(xlabel="gradient steps (thousands)", ylabel="value (reward units)", title="Q against the MC return (eval episodes)")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=110)
    (HERE / "status.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
