"""fp32 against bf16 pre-training on the same seed and the same batches: loss and Q trajectories.

    python benchmarks/precision_trajectories.py 2000   # gradient steps per precision (3 min, 2 threads)
    python benchmarks/precision_trajectories.py 2000 --task halfcheetah-medium --threads 1 \\
        profile=paper update_step.compile=true      # the long pre-training runs' configuration

CQL on the task's shipped data (default hopper-medium at the default profile's sizes, no BC warm
start; trailing hydra overrides change the config), the run's learning rates and pre-training
Polyak coefficient; prints, per metric, both values at the end and the median / max relative
difference over the logged steps (every 100); raw values in /tmp/traj.json.
"""
import argparse
import json

import torch

from torchrl_wsrl.agent import build_agent
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.data.sources import load_task_dataset, sample_path
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.update import UpdateStep

METRICS = ("loss_qvalue", "q_mean", "cql_penalty", "loss_actor")


def trajectories(steps: int, task_name: str, overrides: list[str]) -> dict[str, list[dict[str, float]]]:
    task = get_task(task_name)
    cfg = compose_config([f"task={task_name}", "train.bc_steps=0", *overrides])
    data = load_task_dataset(task, path=sample_path(task), gamma=0.99)
    torch.manual_seed(0)
    batches = [torch.randint(data.numel(), (256,)) for _ in range(steps)]
    out = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        agent = build_agent(cfg, task, regularized=True)
        update = UpdateStep(
            agent.loss, agent.optimizers, tau=cfg.agent.pretrain_tau, precision=precision, compile=cfg.update_step.compile
        )
        torch.manual_seed(1)
        rows = []
        for i, index in enumerate(batches, 1):
            metrics = update(data[index])
            if i % 100 == 0:
                rows.append({k: metrics[k].item() for k in METRICS})
        out[precision] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", type=int, help="gradient steps per precision")
    parser.add_argument("--task", default="hopper-medium")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="hydra overrides, e.g. profile=paper update_step.compile=true")
    args = parser.parse_intermixed_args()
    torch.set_num_threads(args.threads)
    out = trajectories(args.steps, args.task, args.overrides)
    for k in METRICS:
        a = torch.tensor([r[k] for r in out["fp32"]])
        b = torch.tensor([r[k] for r in out["bf16"]])
        rel = (a - b).abs() / a.abs().clamp(min=1e-3)
        print(f"{k}: fp32 at end {a[-1]:.4g}, bf16 at end {b[-1]:.4g}; median rel. diff over checkpoints {rel.median():.3g}, max {rel.max():.3g}")
    with open("/tmp/traj.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
