"""Learning-curve plot of one run, from its ``metrics.csv``."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(path: Path) -> list[dict[str, str]]:
    """Rows of a run's ``metrics.csv`` as dicts of strings (empty string = not measured)."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def _series(rows, phase_names, x_key, y_key):
    pts = [(float(r[x_key]), float(r[y_key])) for r in rows if r["phase"] in phase_names and r[y_key] != ""]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_run(run_dir: Path, *, warmup_steps: int, data_score: float | None = None, bc_steps: int = 0) -> Path:
    """Write ``learning_curve.png``: the normalized score during pre-training (x: gradient steps,
    the BC warm start shaded) and online (x: online env steps, the warmup shaded), with the
    offline data's own score (``data_score``) as a reference line, and predicted Q against the
    MC return of the evaluation episodes online (of pre-training, in a run that has no online
    phase)."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / "metrics.csv")
    online = any(r["phase"] != "pretrain" for r in rows)
    q_phases, q_step, q_axis = ({"warmup", "online"}, "env_step", "online env steps") if online else ({"pretrain"}, "grad_step", "gradient steps")
    fig, (ax_pre, ax_on, ax_q) = plt.subplots(1, 3, figsize=(15, 4))
    ax_pre.plot(*_series(rows, {"pretrain"}, "grad_step", "score"), "o-", color="tab:gray")
    ax_pre.set(title="offline pre-training", xlabel="gradient steps", ylabel="normalized score")
    if bc_steps:
        ax_pre.axvspan(0, bc_steps, color="tab:purple", alpha=0.1, label="BC warm start")
    ax_on.plot(*_series(rows, {"warmup", "online"}, "env_step", "score"), "o-", color="tab:blue")
    ax_q.plot(*_series(rows, q_phases, q_step, "q_pred"), "o-", label="predicted Q (eval episodes)")
    ax_q.plot(*_series(rows, q_phases, q_step, "q_mc_return"), "s--", label="MC return (eval episodes)")
    for ax in (ax_on, ax_q) if online else ():
        if warmup_steps:
            ax.axvspan(0, warmup_steps, color="tab:orange", alpha=0.15, label="warmup")
    ax_on.set_xlabel("online env steps")
    ax_q.set_xlabel(q_axis)
    if not online:
        ax_on.text(0.5, 0.5, "no online phase yet", ha="center", va="center", transform=ax_on.transAxes, color="tab:gray")
    ax_on.set(title="online fine-tuning", ylabel="normalized score")
    if data_score is not None:
        for ax in (ax_pre, ax_on) if online else (ax_pre,):
            ax.axhline(data_score, color="tab:green", ls=":", label=f"offline data ({data_score:.1f})")
    for ax in (ax_pre, ax_on):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    ax_q.set(title="Q diagnostics" + ("" if online else " (pre-training)"), ylabel="value (scaled reward units)")
    ax_q.legend(fontsize=8)
    fig.tight_layout()
    out = run_dir / "learning_curve.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
