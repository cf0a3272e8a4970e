"""Ship a pre-training run's agent in the package: ``torchrl_wsrl/assets/<task>.agent.pt`` (the
agent file of a run checkpoint, :func:`torchrl_wsrl.checkpoint.export_agent`) and
``<task>.agent.json`` (its provenance, read by ``pretrained=shipped`` and the tests).

usage: python docs/results/pretraining/ship_agent.py RUN_DIR STEP [--commit C] [--command "..."]

The score range is measured here: 20 episodes of the deterministic policy on a fresh env
(seed 20_000), one score each, lowest and highest kept; the mean and std at STEP, Q and its MC
return come from the run's own evaluation (``metrics.csv``).
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch
import yaml
from torchrl.envs.utils import ExplorationType, set_exploration_type

from torchrl_wsrl.assets import ASSETS, sample_path
from torchrl_wsrl.checkpoint import export_agent, load_policy
from torchrl_wsrl.data.sources import dataset_score
from torchrl_wsrl.envs import episode_score, get_task, make_env

EPISODES = 20
SEED = 20_000


def episode_scores(path: Path, task, episodes: int = EPISODES) -> list[float]:
    policy, env = load_policy(path), make_env(task, seed=SEED)
    scores = []
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        for _ in range(episodes):
            episode = env.rollout(task.max_episode_steps, policy, break_when_any_done=True)
            scores.append(episode_score(task, episode["next", "reward"], episode.get(("next", "is_success"), None)))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("step", type=int)
    parser.add_argument("--commit", default="9920620")
    parser.add_argument("--command", default="bash docs/results/pretraining/pretrain.sh TASK 0")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    task = get_task(config["task"]["name"])
    row = next(r for r in csv.DictReader((args.run_dir / "metrics.csv").open()) if r["phase"] == "pretrain" and int(r["grad_step"]) == args.step)
    out = ASSETS / f"{task.name}.agent.pt"
    export_agent(args.run_dir / "checkpoints" / f"checkpoint-{args.step:012d}", out)
    tic = time.perf_counter()
    scores = episode_scores(out, task)
    network = config["network"][task.domain]
    info = {
        "task": task.name,
        "algorithm": "CQL" if not config["task"]["cql"]["calibrate"] else "Cal-QL",
        "command": args.command.replace("TASK", task.name),
        "commit": args.commit,
        "gradient_steps": args.step,
        "wall_time_h": round(float(row["wall_time_s"]) / 3600, 2),
        "machine": "2-core AMD EPYC, one thread (the other core busy), torch 2.13.0 CPU, compiled update, bf16 autocast",
        "network": {"critic_hidden": network["critic_hidden"], "actor_hidden": network["actor_hidden"], "num_critics": config["agent"]["num_critics"]},
        "score": round(float(row["score"]), 1),
        "score_std": round(float(row["score_std"]), 1),
        "q_pred": round(float(row["q_pred"]), 1),
        "q_mc_return": round(float(row["q_mc_return"]), 1),
        "data_score": round(dataset_score(task, sample_path(task.name)), 2),
        "score_range": [round(min(scores), 2), round(max(scores), 2)],
        "score_range_episodes": EPISODES,
        "score_range_seed": SEED,
    }
    (ASSETS / f"{task.name}.agent.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2), f"\n({EPISODES} episodes in {time.perf_counter() - tic:.0f} s)")


if __name__ == "__main__":
    main()
