"""Generate a D4RL-format offline dataset for a task, locally (no download).

    python -m torchrl_wsrl.data.generate --task hopper-medium
    python -m torchrl_wsrl.data.generate --task pointmaze-umaze
    python -m torchrl_wsrl.data.generate --task antmaze-large-diverse --transitions 100000
    python -m torchrl_wsrl.data.generate --task pen-binary --policy-checkpoint runs/.../final.pt

Behaviours (the task's ``behaviour`` unless ``--behaviour`` is given), after D4RL (Fu et al.
2020):

- ``random``: uniform actions (every task).
- ``medium``: a SAC agent trained until its sampling policy reaches D4RL's medium level of the
  env (``--stop-score``; at most ``--train-steps`` env steps), then sampled; ``expert``:
  trained ``--expert-train-steps``; ``medium-replay``: the medium agent's replay buffer while it
  trained; the behaviour policy is written beside the data (``<file>.policy.pt``); ``medium-expert``: medium and expert data, half each. The SAC agent is this
  project's own: the ensemble critic with 2 critics, ``WSRLLoss`` with an entropy backup and
  the min over both critics (SAC, Haarnoja et al. 2018), one update per env step after 5,000
  uniform-random steps. Meant for locomotion; it runs on any task.
- ``waypoint`` (pointmaze): D4RL maze2d's controller, see
  :class:`~torchrl_wsrl.data.scripted.WaypointController`; ``--noise`` sets its action noise.
- ``random-starts`` (maze tasks): uniform actions, every episode started in a uniformly drawn
  open cell, see :class:`~torchrl_wsrl.data.scripted.RandomStartCell`. The antmaze stand-in: no
  scripted controller walks the ant, and random actions from the fixed start never leave it.
- ``--policy-checkpoint``: rollouts (sampling) of the actor of any checkpoint of this project
  trained on the task (a run's ``pretrained.pt`` or ``final.pt``).

Files carry root attributes ``task``, ``env_id`` (their observations are that env's, see
:mod:`torchrl_wsrl.data.layouts`), ``behaviour``, ``seed``, ``episodes`` and
``mean_episode_return``. What each behaviour stands for against the paper's data:
docs/tasks.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, ReplayBuffer
from tqdm.auto import tqdm

from torchrl_wsrl.agent import load_checkpoint, write_checkpoint
from torchrl_wsrl.data.d4rl import write_d4rl_hdf5
from torchrl_wsrl.data.returns import episode_returns
from torchrl_wsrl.data.scripted import RandomStartCell, WaypointController
from torchrl_wsrl.data.sources import generated_path
from torchrl_wsrl.envs import Task, get_task, make_env
from torchrl_wsrl.envs.mazes import MAZE_SIZE_SCALING
from torchrl_wsrl.evaluation import evaluate
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

SAC_HIDDEN = (256, 256)
SAC_RANDOM_STEPS = 5000
SAC_EVAL_EVERY = 5000  # env steps
SAC_EVAL_EPISODES = 10
# Mean normalized episode score of D4RL's "-medium-v2" data per locomotion env: where the
# generator stops the SAC agent for "medium" (about a third of expert return).
MEDIUM_SCORES = {"hopper": 44.0, "walker2d": 75.0, "halfcheetah": 40.0}
SAC_BEHAVIOURS = ("medium", "medium-replay", "expert", "medium-expert")
SAC_POLICY_BEHAVIOURS = ("medium", "medium-replay", "expert")  # one behaviour policy each
MAZE_DOMAINS = ("antmaze", "pointmaze")
ACTOR_PREFIX = "actor_network_params.module.0.module."


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


def collect(
    task: Task,
    policy,
    num_steps: int,
    *,
    seed: int,
    desc: str,
    random_starts: bool = False,
) -> TensorDictBase:
    """``num_steps`` env steps of ``policy`` (sampling; ``policy=None``: uniform random).

    ``random_starts`` starts every episode in a uniformly drawn open maze cell.
    """
    env = make_env(task, seed=seed, gym_wrapper=RandomStartCell if random_starts else None)
    collector = Collector(
        env,
        policy,
        frames_per_batch=min(1000, num_steps),
        total_frames=num_steps,
        init_random_frames=num_steps if policy is None else 0,
    )
    parts = [
        batch.select("observation", "action", "next").cpu()
        for batch in tqdm(collector, desc=desc, unit_scale=collector.frames_per_batch)
    ]
    collector.shutdown()
    return torch.cat(parts)[:num_steps]


class SACRun(NamedTuple):
    """What :func:`train_sac` returns: the actor as it stopped, every transition it collected
    (in order), and its evaluations ``(env_step, score)`` of the sampling policy."""

    actor: torch.nn.Module
    transitions: TensorDictBase
    evaluations: list[tuple[int, float]]


def train_sac(
    task: Task,
    train_steps: int,
    *,
    seed: int,
    stop_score: float | None = None,
    eval_every: int = SAC_EVAL_EVERY,
    eval_episodes: int = SAC_EVAL_EPISODES,
    checkpoint_dir: Path | None = None,
) -> SACRun:
    """Train SAC for at most ``train_steps`` env steps.

    Every ``eval_every`` env steps the *sampling* policy (the one that will collect the data)
    plays ``eval_episodes`` episodes; with ``stop_score`` training stops at the first evaluation
    whose mean normalized score reaches it (D4RL's "medium": SAC stopped early at a fraction of
    expert return, Fu et al. 2020 Sec. 5). ``checkpoint_dir`` receives the actor at every
    evaluation (``sac-<env steps>.pt``, see :func:`save_policy_checkpoint`).
    """
    torch.manual_seed(seed)
    actor = make_actor(task.obs_dim, task.action_dim, SAC_HIDDEN)
    critic = EnsembleQCritic(task.obs_dim, task.action_dim, num_critics=2, hidden_sizes=SAC_HIDDEN)
    loss = WSRLLoss(
        actor,
        critic,
        action_dim=task.action_dim,
        subsample_size=2,
        subsample_replace=False,
        backup_entropy=True,
    )
    optimizers = make_optimizers(loss, lr_actor=3e-4, lr_critic=3e-4, lr_alpha=3e-4)
    update = UpdateStep(loss, optimizers, utd_ratio=1)
    buffer = ReplayBuffer(storage=LazyTensorStorage(train_steps), batch_size=256)
    collector = Collector(
        make_env(task, seed=seed),
        actor,
        frames_per_batch=1,
        total_frames=train_steps,
        init_random_frames=SAC_RANDOM_STEPS,
    )
    eval_env = make_env(task, seed=seed + 10_000)
    evaluations: list[tuple[int, float]] = []
    progress = tqdm(
        collector, total=train_steps, desc=f"training SAC on {task.name}", mininterval=2
    )
    for step, data in enumerate(progress, start=1):
        transition = data.select("observation", "action", "next").reshape(-1)
        scaled = transition["next", "reward"] * task.reward_scale + task.reward_bias
        transition.set(("next", "scaled_reward"), scaled)
        buffer.extend(transition)
        if step >= SAC_RANDOM_STEPS:
            batch = buffer.sample()
            batch.set(("next", "reward"), batch["next", "scaled_reward"])
            update(batch)
        if step % eval_every == 0:
            score = evaluate(
                eval_env, actor, task, num_episodes=eval_episodes, deterministic=False
            )["score"]
            evaluations.append((step, score))
            progress.set_postfix(sampled_score=f"{score:.1f}")
            if checkpoint_dir is not None:
                save_policy_checkpoint(
                    Path(checkpoint_dir) / f"sac-{step:07d}.pt", actor, task, env_steps=step, score=score
                )
            if stop_score is not None and score >= stop_score:
                break
    collector.shutdown()
    return SACRun(actor, buffer[:].exclude(("next", "scaled_reward")), evaluations)


def save_policy_checkpoint(
    path: Path, actor: torch.nn.Module, task: Task, *, env_steps: int, score: float
) -> Path:
    """Write a behaviour policy's actor alone (no critic, no optimizer: about 300 kB at 2x256)
    in the layout :func:`actor_from_checkpoint` reads, with the task name, the SAC env steps it
    trained for and its sampled score; refuses to overwrite (``FileExistsError``)."""
    state = {ACTOR_PREFIX + key: value for key, value in actor.module[0].module.state_dict().items()}
    payload = {"loss": state, "optimizers": {}, "task": task.name, "env_steps": env_steps}
    return write_checkpoint(path, {**payload, "sampled_score": score})


def actor_from_checkpoint(path: str | Path, task: Task) -> torch.nn.Module:
    """The actor of a checkpoint written by :func:`~torchrl_wsrl.agent.save_checkpoint`, its
    hidden sizes and kind of standard deviation read off the stored weights.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the checkpoint was written for another task, or its actor does not take
            ``task``'s observations or give its actions.
    """
    checkpoint = load_checkpoint(path)
    if checkpoint.get("task", task.name) != task.name:
        raise ValueError(
            f"{path} holds an agent trained on task {checkpoint['task']!r}, not {task.name!r}"
        )
    state = {
        key.removeprefix(ACTOR_PREFIX): value
        for key, value in checkpoint["loss"].items()
        if key.startswith(ACTOR_PREFIX)
    }
    linear_weights = sorted(
        (int(key.split(".")[1]), value)
        for key, value in state.items()
        if key.startswith("trunk.") and key.endswith(".weight") and value.ndim == 2
    )
    if not linear_weights:
        raise ValueError(f"{path}: no actor weights under {ACTOR_PREFIX!r}")
    hidden_sizes = tuple(weight.shape[0] for _, weight in linear_weights[:-1])
    state_dependent_std = "log_std" not in state
    in_features, out_features = linear_weights[0][1].shape[1], linear_weights[-1][1].shape[0]
    expected_out = task.action_dim * (2 if state_dependent_std else 1)
    if in_features != task.obs_dim or out_features != expected_out:
        raise ValueError(
            f"{path}: the actor takes {in_features} observation features and outputs "
            f"{out_features}; task {task.name!r} has {task.obs_dim} features and needs "
            f"{expected_out} outputs"
        )
    actor = make_actor(
        task.obs_dim, task.action_dim, hidden_sizes, state_dependent_std=state_dependent_std
    )
    actor.module[0].module.load_state_dict(state)
    return actor


def medium_stop_score(task: Task) -> float | None:
    """The sampled score at which "medium" SAC training stops (:data:`MEDIUM_SCORES`), ``None``
    for a task outside the three locomotion envs (train the full ``train_steps``)."""
    return MEDIUM_SCORES.get(task.name.split("-")[0]) if task.domain == "locomotion" else None


def generate(
    task: Task,
    behaviour: str,
    *,
    transitions: int,
    seed: int,
    train_steps: int = 300_000,
    expert_train_steps: int = 1_000_000,
    stop_score: float | None = None,
    noise: float = 0.5,
    policy_checkpoint: str | Path | None = None,
    checkpoint_dir: Path | None = None,
    policy_out: Path | None = None,
) -> dict[str, np.ndarray]:
    """The D4RL arrays of ``behaviour`` on ``task`` (see the module docstring).

    ``train_steps`` caps the "medium" SAC training, which stops earlier once its sampling policy
    scores ``stop_score`` (default :func:`medium_stop_score`); "expert" trains
    ``expert_train_steps``. ``checkpoint_dir`` receives the SAC actor at every evaluation,
    ``policy_out`` the behaviour policy that collected the data (SAC behaviours only).

    Raises:
        ValueError: a behaviour this task cannot have (``waypoint`` off pointmaze,
            ``random-starts`` off the mazes, an unknown name).
    """
    if policy_checkpoint is not None:
        actor = actor_from_checkpoint(policy_checkpoint, task)
        steps = collect(task, actor, transitions, seed=seed, desc="rolling out the checkpoint")
        return to_d4rl_arrays(steps)
    if behaviour == "random":
        return to_d4rl_arrays(collect(task, None, transitions, seed=seed, desc="uniform random"))
    if behaviour == "random-starts" and task.domain in MAZE_DOMAINS:
        steps = collect(
            task, None, transitions, seed=seed, desc="random starts", random_starts=True
        )
        return to_d4rl_arrays(steps)
    if behaviour == "waypoint" and task.domain == "pointmaze":
        controller = WaypointController(
            dict(task.env_kwargs)["maze_map"],
            scaling=MAZE_SIZE_SCALING["pointmaze"],
            noise_std=noise,
            seed=seed,
        )
        steps = collect(task, controller, transitions, seed=seed, desc="waypoint controller")
        return to_d4rl_arrays(steps)
    if stop_score is None:
        stop_score = medium_stop_score(task)
    if behaviour in ("medium", "medium-replay", "expert"):
        expert = behaviour == "expert"
        run = train_sac(
            task,
            expert_train_steps if expert else train_steps,
            seed=seed,
            stop_score=None if expert else stop_score,
            checkpoint_dir=checkpoint_dir,
        )
        step, score = run.evaluations[-1] if run.evaluations else (0, float("nan"))
        print(f"SAC stopped after {step} env steps, sampled normalized score {score:.1f}")
        if policy_out is not None:
            save_policy_checkpoint(policy_out, run.actor, task, env_steps=step, score=score)
        if behaviour == "medium-replay":
            return to_d4rl_arrays(run.transitions)
        desc = f"sampling the {behaviour} policy"
        return to_d4rl_arrays(collect(task, run.actor, transitions, seed=seed + 1, desc=desc))
    if behaviour == "medium-expert":
        halves = [
            generate(
                task,
                level,
                transitions=transitions // 2,
                train_steps=train_steps,
                expert_train_steps=expert_train_steps,
                stop_score=stop_score,
                seed=seed + i,
            )
            for i, level in enumerate(("medium", "expert"))
        ]
        return {key: np.concatenate([half[key] for half in halves]) for key in halves[0]}
    raise ValueError(
        f"behaviour {behaviour!r} cannot be generated for task {task.name!r} (domain "
        f"{task.domain}): use random, {', '.join(SAC_BEHAVIOURS)}, random-starts (maze tasks), "
        "waypoint (pointmaze) or --policy-checkpoint"
    )


def summary(data: dict[str, np.ndarray]) -> dict[str, float]:
    """Episode count, mean episode return (RAW rewards) and share of episodes ending in a
    terminal step (a success on goal-reaching tasks)."""
    ends = np.flatnonzero(data["terminals"] | data["timeouts"])
    returns = episode_returns(data["rewards"], data["terminals"], data["timeouts"])
    return {
        "episodes": len(returns),
        "mean_episode_return": float(np.mean(returns)),
        "terminal_share": float(data["terminals"][ends].mean()),
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", required=True, help="a registered task name, e.g. hopper-medium")
    parser.add_argument("--behaviour", default=None, help="default: the task's behaviour")
    parser.add_argument(
        "--transitions", type=int, default=200_000, help="env steps in the dataset (200k)"
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        default=300_000,
        help="at most this many SAC env steps for 'medium' / 'medium-replay' (300k)",
    )
    parser.add_argument(
        "--expert-train-steps", type=int, default=1_000_000, help="SAC env steps for 'expert' (1M)"
    )
    parser.add_argument(
        "--stop-score",
        type=float,
        default=None,
        help="stop 'medium' SAC once its sampling policy scores this (normalized); default: "
        "D4RL's medium level of the env (hopper 44, walker2d 75, halfcheetah 40)",
    )
    parser.add_argument(
        "--checkpoint-dir", type=Path, default=None, help="save the SAC actor at every evaluation"
    )
    parser.add_argument(
        "--noise", type=float, default=0.5, help="action noise std of 'waypoint' (0.5)"
    )
    parser.add_argument(
        "--policy-checkpoint", default=None, help="roll out the actor of this checkpoint instead"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="default: the data dir (torchrl_wsrl.data.sources)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    behaviour = args.behaviour or task.behaviour
    out = args.out or generated_path(task)
    policy_out = out.with_suffix(".policy.pt")
    for path in (out, policy_out):
        if path.exists() and not args.overwrite:
            parser.error(f"{path} exists; pass --overwrite to replace it (or --out elsewhere)")
    if args.overwrite:
        policy_out.unlink(missing_ok=True)
    data = generate(
        task,
        behaviour,
        transitions=args.transitions,
        seed=args.seed,
        train_steps=args.train_steps,
        expert_train_steps=args.expert_train_steps,
        stop_score=args.stop_score,
        noise=args.noise,
        policy_checkpoint=args.policy_checkpoint,
        checkpoint_dir=args.checkpoint_dir,
        policy_out=policy_out if behaviour in SAC_POLICY_BEHAVIOURS else None,
    )
    stats = summary(data)
    metadata = {
        "task": task.name,
        "env_id": task.env_id,
        "behaviour": behaviour if args.policy_checkpoint is None else "policy-checkpoint",
        "policy_checkpoint": str(args.policy_checkpoint or ""),
        "seed": args.seed,
        "train_steps": args.train_steps if behaviour in SAC_BEHAVIOURS else 0,
        **stats,
    }
    if policy_out.exists():
        policy = load_checkpoint(policy_out)
        metadata.update(
            behaviour_policy=policy_out.name,
            sac_env_steps=policy["env_steps"],
            sac_sampled_score=policy["sampled_score"],
        )
    path = write_d4rl_hdf5(out, data, overwrite=args.overwrite, metadata=metadata)
    print(
        f"wrote {len(data['rewards'])} transitions ({stats['episodes']} episodes, mean return "
        f"{stats['mean_episode_return']:.2f}, {100 * stats['terminal_share']:.0f}% ending in a "
        f"terminal step) to {path}"
    )
    return path


if __name__ == "__main__":
    main()
