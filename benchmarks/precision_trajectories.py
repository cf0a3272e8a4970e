"""fp32 against bf16 pre-training on the same seed and the same batches: loss and Q trajectories.

    python benchmarks/precision_trajectories.py 2000   # gradient steps per precision (3 min, 2 threads)

CQL on the shipped hopper-medium at the default profile's sizes (no BC warm start, pretrain tau
0.05); prints, per metric, both values at the end and the median / max relative difference over
the logged steps (every 100); raw values in /tmp/traj.json.
"""
import json
import sys

import torch

from torchrl_wsrl.agent import make_critic, make_loss, make_policy
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.data.sources import load_task_dataset, sample_path
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.update import UpdateStep, make_optimizers

METRICS = ("loss_qvalue", "q_mean", "cql_penalty", "loss_actor")


def trajectories(steps: int) -> dict[str, list[dict[str, float]]]:
    task = get_task("hopper-medium")
    cfg = compose_config(["train.bc_steps=0"])
    data = load_task_dataset(task, path=sample_path(task), gamma=0.99)
    torch.manual_seed(0)
    batches = [torch.randint(data.numel(), (256,)) for _ in range(steps)]
    out = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        loss = make_loss(cfg, task, make_policy(cfg, task), make_critic(cfg, task), regularized=True)
        update = UpdateStep(loss, make_optimizers(loss), tau=0.05, precision=precision)
        torch.manual_seed(1)
        rows = []
        for i, index in enumerate(batches, 1):
            metrics = update(data[index])
            if i % 100 == 0:
                rows.append({k: metrics[k].item() for k in METRICS})
        out[precision] = rows
    return out


def main(steps: int) -> None:
    torch.set_num_threads(2)
    out = trajectories(steps)
    for k in METRICS:
        a = torch.tensor([r[k] for r in out["fp32"]])
        b = torch.tensor([r[k] for r in out["bf16"]])
        rel = (a - b).abs() / a.abs().clamp(min=1e-3)
        print(f"{k}: fp32 at end {a[-1]:.4g}, bf16 at end {b[-1]:.4g}; median rel. diff over checkpoints {rel.median():.3g}, max {rel.max():.3g}")
    with open("/tmp/traj.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(int(sys.argv[1]))
