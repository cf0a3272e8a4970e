"""The authors' JAX agent beside the project's ``wsrl``, from the same shipped agent:
``authors_vs_project.png``, the normalized score over the first 15,000 env steps (10 evaluation
episodes every 1,000 env steps), one thin line per seed and the mean over seeds in bold.

usage: python docs/results/comparison/authors-jax/plot.py

Reads ``authors-seed*.json`` here (``online_from_checkpoint.py --side jax``) and the ``metrics.csv``
of the finished ``wsrl`` runs in ``../runs/``.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from torchrl_wsrl.plotting import read_metrics  # noqa: E402

HERE = Path(__file__).resolve().parent
LAST_STEP = 15_000   # the authors' runs stop here (their harness cannot resume)


def authors_curves() -> list[dict[int, float]]:
    curves = []
    for path in sorted(HERE.glob("authors-seed*.json")):
        rows = json.loads(path.read_text())["rows"]
        curves.append({r["env_step"]: r["score"] for r in rows if r["phase"] in ("warmup", "online")})
    return curves


def project_curves() -> list[dict[int, float]]:
    curves = []
    for run in sorted((HERE.parent / "runs").glob("wsrl_seed*")):
        if not (run / "summary.json").exists():
            continue
        rows = read_metrics(run / "metrics.csv")
        curves.append({int(r["env_step"]): float(r["score"]) for r in rows
                       if r["phase"] in ("warmup", "online") and r["score"]
                       and int(r["env_step"]) <= LAST_STEP})
    return curves


def plot(ax, curves: list[dict[int, float]], color: str, label: str) -> None:
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    scores = np.array([[c[s] for s in steps] for c in curves])
    for row in scores:
        ax.plot(steps, row, color=color, alpha=0.3, lw=1)
    ax.plot(steps, scores.mean(0), color=color, lw=2.5, marker="o", ms=4,
            label=f"{label} (mean of {len(curves)} seeds)")


def main() -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    plot(ax, authors_curves(), "tab:orange", "authors' JAX agent")
    plot(ax, project_curves(), "tab:blue", "torchrl-wsrl wsrl")
    ax.axvline(5_000, color="0.5", ls=":", lw=1)
    ax.text(5_100, ax.get_ylim()[1] - 0.3, "end of warmup, first update", fontsize=8, va="top")
    ax.set_xlabel("env steps (online phase, warmup included)")
    ax.set_ylabel("normalized score (10 episodes)")
    ax.set_title("From the shipped halfcheetah-medium-replay agent, the authors' online settings", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = HERE / "authors_vs_project.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
