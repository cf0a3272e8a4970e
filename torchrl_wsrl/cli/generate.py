"""``wsrl-generate``: a D4RL-format offline dataset for a task, made locally (no download).

    wsrl-generate --task hopper-medium
    wsrl-generate --task pointmaze-umaze
    wsrl-generate --task antmaze-large-diverse --transitions 100000
    wsrl-generate --task pen-binary --policy-checkpoint runs/.../final.pt
    wsrl-generate --task hopper-medium -- train.warmup_steps=2000

Behaviours (the task's ``behaviour`` unless ``--behaviour`` is given), after D4RL (Fu et al.
2020):

- ``random``: uniform actions (every task).
- ``medium``: a SAC agent trained until its sampling policy reaches D4RL's medium level of the
  env (``--stop-score``; at most ``--train-steps`` env steps), then sampled; ``expert``:
  trained ``--expert-train-steps``; ``medium-replay``: the medium agent's replay buffer while it
  trained; ``medium-expert``: medium and expert data, half each. The behaviour policy is
  written beside the data (``<file>.policy.pt``). The SAC agent is a configuration of the
  project's trainer, ``algo=sac`` (``conf/algo/sac.yaml``: 2 critics, the min over both with
  the entropy bonus in the TD target, one update per env step after 5,000 uniform-random
  steps; SAC, Haarnoja et al. 2018), run into ``--runs-root/<task>/sac/``; trainer overrides
  follow ``--``. Meant for locomotion; it runs on any task.
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
docs/tasks.md. A file is written only whole: a failed or interrupted run (Ctrl-C exits with code
130) leaves an existing file and its policy as they were.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from hydra.errors import HydraException
from omegaconf import DictConfig
from tensordict import TensorDictBase
from tqdm.auto import tqdm

from torchrl_wsrl.checkpoint import load_checkpoint, load_policy_actor, save_policy_file
from torchrl_wsrl.cli.args import positive_int
from torchrl_wsrl.cli.interrupt import INTERRUPTED_EXIT_CODE, interrupted
from torchrl_wsrl.collectors import make_collector
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.data.d4rl import write_d4rl_hdf5
from torchrl_wsrl.data.returns import episode_returns
from torchrl_wsrl.data.scripted import RandomStartCell, WaypointController
from torchrl_wsrl.data.sources import generated_path
from torchrl_wsrl.envs import Task, get_task, make_env
from torchrl_wsrl.domains.mazes import MAZE_SIZE_SCALING
from torchrl_wsrl.modules import SamplingPolicy
from torchrl_wsrl.rewards import unscale_reward
from torchrl_wsrl.training import Trainer
from torchrl_wsrl.validation import ConfigError

SAC_EVAL_EVERY = 5000  # env steps
SAC_EVAL_EPISODES = 10
SAC_BEHAVIOURS = ("medium", "medium-replay", "expert", "medium-expert")
SAC_POLICY_BEHAVIOURS = ("medium", "medium-replay", "expert")  # one behaviour policy each


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
    collector = make_collector(env, policy, total_frames=num_steps, frames_per_batch=min(1000, num_steps))
    parts = [
        batch.select("observation", "action", "next").cpu()
        for batch in tqdm(collector, desc=desc, unit_scale=collector.frames_per_batch)
    ]
    collector.shutdown()
    return torch.cat(parts)[:num_steps]


class SACRun(NamedTuple):
    """What :func:`train_sac` returns: the actor as it stopped, every transition it collected
    (in order, raw rewards), the env steps it took and the sampled score of its last
    evaluation (``None`` if none ran), and its run directory."""

    actor: torch.nn.Module
    transitions: TensorDictBase
    env_steps: int
    score: float | None
    run_dir: Path


def sac_config(
    task: Task, train_steps: int, *, seed: int, stop_score: float | None = None, overrides: Sequence[str] = ()
) -> DictConfig:
    """The trainer's config of the behaviour-policy SAC: ``algo=sac`` (2 critics, entropy
    backup, no pre-training; ``conf/algo/sac.yaml``) at the paper's sizes, ``train_steps``
    env steps (the first ``train.warmup_steps`` uniform), the sampling policy evaluated every
    :data:`SAC_EVAL_EVERY` env steps over :data:`SAC_EVAL_EPISODES` episodes, stopped at
    ``stop_score`` (``train.stop_score``); ``overrides`` (hydra syntax) come last."""
    return compose_config(
        [
            f"task={task.name}", "algo=sac", "profile=paper", f"seed={seed}",
            f"train.online_steps={train_steps}", f"train.buffer_capacity={train_steps}",
            f"train.eval_every={SAC_EVAL_EVERY}", f"train.eval_episodes={SAC_EVAL_EPISODES}",
            f"train.stop_score={'null' if stop_score is None else stop_score}",
            *overrides,
        ]
    )


def train_sac(
    task: Task,
    train_steps: int,
    *,
    seed: int,
    run_dir: Path,
    stop_score: float | None = None,
    overrides: Sequence[str] = (),
) -> SACRun:
    """Train SAC for at most ``train_steps`` env steps with the project's trainer
    (:func:`sac_config`) into ``run_dir`` (a run directory like any other: metrics, learning
    curve, checkpoints, ``final.pt``).

    Every evaluation scores the *sampling* policy (the one that will collect the data); with
    ``stop_score`` training stops at the first one whose mean normalized score reaches it
    (D4RL's "medium": SAC stopped early at a fraction of expert return, Fu et al. 2020 Sec. 5).

    Raises:
        ConfigError: ``overrides`` make an invalid run config (e.g. ``train_steps`` not above
            ``train.warmup_steps``).
    """
    cfg = sac_config(task, train_steps, seed=seed, stop_score=stop_score, overrides=overrides)
    trainer = Trainer(cfg, Path(run_dir))
    summary = trainer.run()
    storage = trainer.online_storage
    transitions = storage[: len(storage)].select("observation", "action", "next").cpu()
    reward = transitions.get(("next", "reward"))
    transitions.set(("next", "reward"), unscale_reward(reward, task.reward_scale, task.reward_bias))
    return SACRun(trainer.actor, transitions, summary.online_env_steps, summary.final, Path(run_dir))


def medium_stop_score(task: Task) -> float | None:
    """The sampled score at which "medium" SAC training stops (the domain's
    :meth:`~torchrl_wsrl.domains.Domain.medium_stop_score`: D4RL's medium level of a locomotion
    env), ``None`` where the domain has none (train the full ``train_steps``)."""
    return task.rules.medium_stop_score(task)


def check_behaviour(task: Task, behaviour: str) -> None:
    """Raises ValueError, naming the ones it can, where ``task`` cannot have ``behaviour``
    (``waypoint`` off pointmaze, ``random-starts`` off the mazes, an unknown name)."""
    behaviours = ("random", *SAC_BEHAVIOURS, *task.rules.scripted_behaviours)
    if behaviour not in behaviours:
        raise ValueError(
            f"behaviour {behaviour!r} cannot be generated for task {task.name!r} (domain "
            f"{task.domain}): use {', '.join(behaviours)} or --policy-checkpoint"
        )


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
    runs_root: Path = Path("runs"),
    sac_overrides: Sequence[str] = (),
    policy_out: Path | None = None,
) -> dict[str, np.ndarray]:
    """The D4RL arrays of ``behaviour`` on ``task`` (see the module docstring).

    ``train_steps`` caps the "medium" SAC training, which stops earlier once its sampling policy
    scores ``stop_score`` (default :func:`medium_stop_score`); "expert" trains
    ``expert_train_steps``. Each SAC run (:func:`train_sac`, with ``sac_overrides``) writes a
    run directory under ``runs_root/<task>/sac/``; ``policy_out`` receives the behaviour
    policy that collected the data (SAC behaviours only).

    Raises:
        ValueError: a behaviour this task cannot have (``waypoint`` off pointmaze,
            ``random-starts`` off the mazes, an unknown name).
    """
    if policy_checkpoint is not None:
        actor = load_policy_actor(policy_checkpoint, task)
        steps = collect(task, SamplingPolicy(actor), transitions, seed=seed, desc="rolling out the checkpoint")
        return to_d4rl_arrays(steps)
    check_behaviour(task, behaviour)
    if behaviour == "random":
        return to_d4rl_arrays(collect(task, None, transitions, seed=seed, desc="uniform random"))
    if behaviour == "random-starts":
        steps = collect(
            task, None, transitions, seed=seed, desc="random starts", random_starts=True
        )
        return to_d4rl_arrays(steps)
    if behaviour == "waypoint":
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
            run_dir=sac_run_dir(runs_root, task, seed),
            stop_score=None if expert else stop_score,
            overrides=sac_overrides,
        )
        score = float("nan") if run.score is None else run.score
        print(f"SAC stopped after {run.env_steps} env steps, sampled normalized score {score:.1f} (run: {run.run_dir})")
        if policy_out is not None:
            save_policy_file(policy_out, run.actor, task.name, env_steps=run.env_steps, sampled_score=score)
        if behaviour == "medium-replay":
            return to_d4rl_arrays(run.transitions)
        desc = f"sampling the {behaviour} policy"
        return to_d4rl_arrays(collect(task, SamplingPolicy(run.actor), transitions, seed=seed + 1, desc=desc))
    # medium-expert: half each
    halves = [
        generate(
            task,
            level,
            transitions=transitions // 2,
            train_steps=train_steps,
            expert_train_steps=expert_train_steps,
            stop_score=stop_score,
            seed=seed + i,
            runs_root=runs_root,
            sac_overrides=sac_overrides,
        )
        for i, level in enumerate(("medium", "expert"))
    ]
    return {key: np.concatenate([half[key] for half in halves]) for key in halves[0]}


def sac_run_dir(runs_root: Path, task: Task, seed: int) -> Path:
    """A new run directory for one SAC run: hydra's ``hydra.run.dir`` of
    ``python -m torchrl_wsrl.train task=<task> algo=sac seed=<seed> runs_root=<runs_root>``
    (``runs_root/<task>/sac/<time>_seed<seed>``)."""
    overrides = [f"task={task.name}", "algo=sac", f"seed={seed}", f"runs_root={runs_root}"]
    return Path(compose_config(overrides, return_hydra_config=True).hydra.run.dir)


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


def _nothing_written(out: Path, policy_out: Path, sac_runs: Path | None) -> str:
    """What an interrupted generation leaves: no data file written, an existing one and its
    policy as they were, and, for a SAC behaviour, where its SAC run (metrics, run checkpoints)
    is."""
    kept = [str(path) for path in (out, policy_out) if path.exists()]
    as_before = "kept as they were" if len(kept) > 1 else "kept as it was"
    message = f"No data was written; {' and '.join(kept)} {as_before}." if kept else f"No data was written to {out}."
    if sac_runs is not None:
        message += f" The SAC run's directory (metrics, run checkpoints) is under {sac_runs}."
    return message


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="wsrl-generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", required=True, help="a registered task name, e.g. hopper-medium")
    parser.add_argument("--behaviour", default=None, help="default: the task's behaviour")
    parser.add_argument(
        "--transitions", type=positive_int, default=200_000, help="env steps in the dataset (200k)"
    )
    parser.add_argument(
        "--train-steps",
        type=positive_int,
        default=300_000,
        help="at most this many SAC env steps for 'medium' / 'medium-replay' (300k)",
    )
    parser.add_argument(
        "--expert-train-steps", type=positive_int, default=1_000_000, help="SAC env steps for 'expert' (1M)"
    )
    parser.add_argument(
        "--stop-score",
        type=float,
        default=None,
        help="stop 'medium' SAC once its sampling policy scores this (normalized); default: "
        "D4RL's medium level of the env (hopper 44, walker2d 75, halfcheetah 40)",
    )
    parser.add_argument(
        "--runs-root", type=Path, default=Path("runs"), help="SAC run directories go under it (runs)"
    )
    parser.add_argument(
        "sac_overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="trainer overrides for the SAC run (hydra syntax, after --), e.g. train.warmup_steps=1000",
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
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing data file and the behaviour policy beside it (.policy.pt) once "
        "the new data is written; a policy rolled out with --policy-checkpoint is kept",
    )
    parser.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        task = get_task(args.task)
    except KeyError as err:  # names the closest registered tasks
        parser.error(f"--task {args.task}: {err.args[0]}")
    behaviour = args.behaviour or task.behaviour
    if args.policy_checkpoint is None:
        try:
            check_behaviour(task, behaviour)
        except ValueError as err:
            parser.error(f"--behaviour {behaviour}: {err}")
    out = args.out or generated_path(task)
    policy_out = out.with_suffix(".policy.pt")  # the behaviour policy beside its data
    # Rolling out the policy file beside the data again (more transitions, another seed) keeps it.
    rolls_out_policy_out = args.policy_checkpoint is not None and Path(args.policy_checkpoint).resolve() == policy_out.resolve()
    for path in (out, policy_out):
        if path.exists() and not args.overwrite and not (path == policy_out and rolls_out_policy_out):
            parser.error(f"{path} exists; pass --overwrite to replace it (or --out elsewhere)")
    # A new SAC policy waits beside the old one until its data is written: a failed or killed
    # generation leaves the old data and its policy as they were.
    new_policy = policy_out.with_name(policy_out.name + ".new")
    new_policy.unlink(missing_ok=True)
    if args.sac_overrides and behaviour not in SAC_BEHAVIOURS:
        parser.error(f"trainer overrides {args.sac_overrides} are for the SAC behaviours ({', '.join(SAC_BEHAVIOURS)}), not {behaviour!r}")
    try:
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
            runs_root=args.runs_root,
            sac_overrides=args.sac_overrides,
            policy_out=new_policy if behaviour in SAC_POLICY_BEHAVIOURS else None,
        )
    except (ConfigError, HydraException) as err:  # the SAC run's config, before any work
        parser.error(f"the SAC run's config (--train-steps and --expert-train-steps set train.online_steps): {err}")
    except (KeyboardInterrupt, RuntimeError) as err:
        if not interrupted(err):
            raise
        new_policy.unlink(missing_ok=True)
        sac_runs = args.runs_root / task.name / "sac" if args.policy_checkpoint is None and behaviour in SAC_BEHAVIOURS else None
        print(f"\ninterrupted (Ctrl-C). {_nothing_written(out, policy_out, sac_runs)}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
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
    behaviour_policy = new_policy if new_policy.exists() else policy_out if rolls_out_policy_out else None
    if behaviour_policy is not None:
        policy = load_checkpoint(behaviour_policy)
        metadata["behaviour_policy"] = policy_out.name
        if "env_steps" in policy:  # a policy file of this command (not any agent file)
            metadata.update(sac_env_steps=policy["env_steps"], sac_sampled_score=policy["sampled_score"])
    path = write_d4rl_hdf5(out, data, overwrite=args.overwrite, metadata=metadata)
    if new_policy.exists():
        new_policy.replace(policy_out)
    elif not rolls_out_policy_out:
        policy_out.unlink(missing_ok=True)  # (--overwrite) the policy of the data just replaced
    print(
        f"wrote {len(data['rewards'])} transitions ({stats['episodes']} episodes, mean return "
        f"{stats['mean_episode_return']:.2f}, {100 * stats['terminal_share']:.0f}% ending in a "
        f"terminal step) to {path}"
    )
    return path


if __name__ == "__main__":
    main()
