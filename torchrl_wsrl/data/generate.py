"""Generate a D4RL-format offline dataset for a task, locally (no download).

    python -m torchrl_wsrl.data.generate --task hopper-medium
    python -m torchrl_wsrl.data.generate --task hopper-random --transitions 100000
    python -m torchrl_wsrl.data.generate --task hopper-medium --policy-checkpoint runs/.../final.pt

Behaviours (the task's ``behaviour`` unless ``--behaviour`` is given), after D4RL (Fu et al. 2020):
``random`` (uniform actions), ``medium`` (a SAC agent trained for ``--train-steps`` env steps,
then sampled), ``medium-replay`` (that agent's replay buffer while it trained), ``expert`` (SAC
trained ``--expert-train-steps``), ``medium-expert`` (medium and expert data, half each); or
rollouts of any saved policy checkpoint. The SAC agent is this project's own: the ensemble
critic with 2 critics, ``WSRLLoss`` with an entropy backup and the min over both critics (SAC,
Haarnoja et al. 2018), one update per env step after 5,000 uniform-random steps.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, ReplayBuffer
from tqdm.auto import tqdm

from torchrl_wsrl.agent import load_checkpoint
from torchrl_wsrl.data.d4rl import write_d4rl_hdf5
from torchrl_wsrl.data.sources import generated_path
from torchrl_wsrl.envs import Task, get_task, make_env
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

SAC_HIDDEN = (256, 256)
SAC_RANDOM_STEPS = 5000


def to_d4rl_arrays(steps: TensorDictBase) -> dict[str, np.ndarray]:
    """Collected env steps ``[N]`` -> D4RL keys; the last row ends an episode (a timeout if the
    env did not terminate there), so episodes never run across the file's end."""
    timeouts = steps["next", "truncated"].reshape(-1).clone()
    terminals = steps["next", "terminated"].reshape(-1)
    timeouts[-1] = ~terminals[-1]
    return {
        "observations": steps["observation"].numpy(),
        "actions": steps["action"].numpy(),
        "rewards": steps["next", "reward"].reshape(-1).numpy(),
        "terminals": terminals.numpy(),
        "timeouts": timeouts.numpy(),
        "next_observations": steps["next", "observation"].numpy(),
    }


def collect(task: Task, policy, num_steps: int, *, seed: int, random_steps: int = 0, desc: str) -> TensorDictBase:
    """``num_steps`` env steps of ``policy`` (sampling; ``policy=None``: uniform random)."""
    env = make_env(task, seed=seed)
    collector = Collector(
        env, policy, frames_per_batch=min(1000, num_steps), total_frames=num_steps,
        init_random_frames=num_steps if policy is None else random_steps,
    )
    parts = [batch.select("observation", "action", "next").cpu() for batch in tqdm(collector, desc=desc, unit_scale=collector.frames_per_batch)]
    collector.shutdown()
    return torch.cat(parts)[:num_steps]


def train_sac(task: Task, train_steps: int, *, seed: int) -> tuple[torch.nn.Module, TensorDictBase]:
    """Train SAC for ``train_steps`` env steps; return the actor and every transition it saw."""
    torch.manual_seed(seed)
    actor = make_actor(task.obs_dim, task.action_dim, SAC_HIDDEN)
    critic = EnsembleQCritic(task.obs_dim, task.action_dim, num_critics=2, hidden_sizes=SAC_HIDDEN)
    loss = WSRLLoss(actor, critic, action_dim=task.action_dim, subsample_size=2, subsample_replace=False, backup_entropy=True)
    update = UpdateStep(loss, make_optimizers(loss, lr_actor=3e-4, lr_critic=3e-4, lr_alpha=3e-4), utd_ratio=1)
    buffer = ReplayBuffer(storage=LazyTensorStorage(train_steps), batch_size=256)
    collector = Collector(make_env(task, seed=seed), actor, frames_per_batch=1, total_frames=train_steps, init_random_frames=SAC_RANDOM_STEPS)
    for step, data in enumerate(tqdm(collector, total=train_steps, desc=f"training SAC on {task.name}", mininterval=2), start=1):
        transition = data.select("observation", "action", "next").reshape(-1)
        transition.set(("next", "scaled_reward"), transition["next", "reward"] * task.reward_scale + task.reward_bias)
        buffer.extend(transition)
        if step >= SAC_RANDOM_STEPS:
            batch = buffer.sample()
            batch.set(("next", "reward"), batch["next", "scaled_reward"])
            update(batch)
    collector.shutdown()
    return actor, buffer[:].exclude(("next", "scaled_reward"))


def generate(task: Task, behaviour: str, *, transitions: int, train_steps: int, expert_train_steps: int, seed: int, policy_checkpoint: str | None = None) -> dict[str, np.ndarray]:
    """The D4RL arrays of ``behaviour`` on ``task`` (see the module docstring)."""
    if policy_checkpoint is not None:
        actor = make_actor(task.obs_dim, task.action_dim, _actor_hidden(policy_checkpoint))
        state = load_checkpoint(policy_checkpoint)["loss"]
        actor.load_state_dict({k.removeprefix("actor_network_params."): v for k, v in state.items() if k.startswith("actor_network_params.")})
        return to_d4rl_arrays(collect(task, actor, transitions, seed=seed, desc="rolling out the checkpoint"))
    if behaviour == "random":
        return to_d4rl_arrays(collect(task, None, transitions, seed=seed, desc="uniform random"))
    if behaviour == "medium-replay":
        return to_d4rl_arrays(train_sac(task, train_steps, seed=seed)[1])
    if behaviour in ("medium", "expert"):
        steps = train_steps if behaviour == "medium" else expert_train_steps
        actor, _ = train_sac(task, steps, seed=seed)
        return to_d4rl_arrays(collect(task, actor, transitions, seed=seed + 1, desc=f"sampling the {behaviour} policy"))
    if behaviour == "medium-expert":
        halves = [
            generate(task, level, transitions=transitions // 2, train_steps=train_steps, expert_train_steps=expert_train_steps, seed=seed + i)
            for i, level in enumerate(("medium", "expert"))
        ]
        return {key: np.concatenate([h[key] for h in halves]) for key in halves[0]}
    raise ValueError(
        f"behaviour {behaviour!r} cannot be generated for task {task.name!r}: use random, medium, "
        "medium-replay, expert, medium-expert, or --policy-checkpoint"
    )


def _actor_hidden(path: str) -> tuple[int, ...]:
    state = load_checkpoint(path)["loss"]
    weights = [k for k in state if k.startswith("actor_network_params.") and k.endswith(".weight") and state[k].ndim == 2]
    return tuple(state[k].shape[0] for k in weights[:-1:2])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help="a registered task name, e.g. hopper-medium")
    parser.add_argument("--behaviour", default=None, help="default: the task's behaviour")
    parser.add_argument("--transitions", type=int, default=200_000, help="env steps in the dataset (default 200k)")
    parser.add_argument("--train-steps", type=int, default=100_000, help="SAC env steps for 'medium' (default 100k)")
    parser.add_argument("--expert-train-steps", type=int, default=400_000, help="SAC env steps for 'expert'")
    parser.add_argument("--policy-checkpoint", default=None, help="roll out the actor of this checkpoint instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: the dataset cache (see torchrl_wsrl.data.sources)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    behaviour = args.behaviour or task.behaviour
    out = args.out or generated_path(task)
    if out.exists() and not args.overwrite:
        parser.error(f"{out} exists; pass --overwrite to replace it")
    data = generate(
        task, behaviour, transitions=args.transitions, train_steps=args.train_steps,
        expert_train_steps=args.expert_train_steps, seed=args.seed, policy_checkpoint=args.policy_checkpoint,
    )
    episode_ends = data["terminals"] | data["timeouts"]
    returns = np.split(data["rewards"], np.flatnonzero(episode_ends)[:-1] + 1)
    mean_return = float(np.mean([r.sum() for r in returns]))
    metadata = {"task": task.name, "behaviour": behaviour if args.policy_checkpoint is None else f"checkpoint:{args.policy_checkpoint}",
                "seed": args.seed, "train_steps": args.train_steps, "episodes": len(returns), "mean_episode_return": mean_return}
    path = write_d4rl_hdf5(out, data, overwrite=args.overwrite, metadata=metadata)
    print(f"wrote {len(data['rewards'])} transitions ({len(returns)} episodes, mean return {mean_return:.1f}) to {path}")
    return path


if __name__ == "__main__":
    main()
