"""The online phase from the shipped hopper-medium agent: the project's runs (seed*/metrics.csv)
and the authors' JAX agent from the same file (authors-seed*.json), normalized score against
env steps. usage: python plot.py  (writes online.png here)"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from torchrl_wsrl.plotting import read_metrics  # noqa: E402

HERE = Path(__file__).resolve().parent
fig, ax = plt.subplots(figsize=(7, 4))
for path in sorted(HERE.glob("seed*/metrics.csv")):
    rows = read_metrics(path)
    ax.plot([int(r["env_step"]) for r in rows], [float(r["score"]) for r in rows], "o-", color="tab:blue", alpha=0.7,
            label=f"project wsrl, {path.parent.name}")
for path in sorted(HERE.glob("authors-seed*.json")):
    rows = json.loads(path.read_text())["rows"]
    ax.plot([r["env_step"] for r in rows], [r["score"] for r in rows], "s--", color="tab:red", alpha=0.7,
            label=f"authors' JAX agent, {path.stem.removeprefix('authors-')}")
ax.axvline(5000, color="green", linestyle=":", label="end of warmup")
ax.axhline(47.0, color="gray", linestyle=":", label="data's score (47.0)")
ax.set(xlabel="online env steps (0 = the shipped agent)", ylabel="normalized score (20 episodes)",
       title="hopper-medium: online phase from the shipped agent", ylim=(0, 100))
ax.legend(fontsize=7)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "online.png", dpi=110)
