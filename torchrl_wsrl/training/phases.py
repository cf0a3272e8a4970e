"""The phase loops of a run: :func:`pretrain` (WSRL doc, Phase 1) and :func:`online` (Phases 2
and 3), each over the collaborators a :class:`PhaseContext` names."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from torchrl.data import LazyTensorStorage, ReplayBuffer
from tqdm.auto import tqdm

from torchrl_wsrl.collectors import make_collector
from torchrl_wsrl.conf.plan import RunPlan
from torchrl_wsrl.data.sources import sparse_failure_reward
from torchrl_wsrl.envs import Task, make_env
from torchrl_wsrl.envs.wrappers import RecordResetRNG
from torchrl_wsrl.modules import SamplingPolicy
from torchrl_wsrl.replay import EpisodeMCReturns, as_transitions, make_replay_buffer
from torchrl_wsrl.training.recorder import Recorder
from torchrl_wsrl.training.run_state import RunState

__all__ = ["PhaseContext", "pretrain", "online"]


def plain_settings(node: DictConfig) -> SimpleNamespace:
    """A config node's values as plain attributes, for the phase loops: reading a ``DictConfig``
    attribute costs ~20 us, and a loop reads several per step (benchmarks/RESULTS.md, end to
    end)."""
    return SimpleNamespace(**OmegaConf.to_container(node, resolve=True))


@dataclass
class PhaseContext:
    """What the phase loops work with.

    Attributes:
        cfg, plan, task, device: the run's config, :class:`~torchrl_wsrl.conf.plan.RunPlan`,
            task and device.
        actor: the policy (trained by the losses the phases receive).
        recorder: evaluations, metrics rows, divergence checks.
        run_state: run checkpoints; a checkpoint read to resume is restored by the phase it
            belongs to.
        summary: the run's :class:`~torchrl_wsrl.training.trainer.Summary` (scores recorded).
        make_update: ``(loss, optimizers, utd_ratio, tau) -> UpdateStep``, the update block
            with the run's hot-path switches.
        offline_data: the offline TensorDict, where the run reads one.
        wrap_update: wraps each update block's calls (``block -> callable(batch)``): the
            ``update`` hook of :class:`~torchrl_wsrl.training.trainer.Hooks`.
    """

    cfg: DictConfig
    plan: RunPlan
    task: Task
    device: torch.device
    actor: torch.nn.Module
    recorder: Recorder
    run_state: RunState
    summary: object
    make_update: Callable
    offline_data: TensorDictBase | None = None
    wrap_update: Callable = lambda block: block

    def evaluate(self, phase: str, grad_step: int, env_step: int, critic, online_storage=None) -> dict:
        return self.recorder.evaluate(
            phase, grad_step, env_step, self.actor, critic, offline_data=self.offline_data, online_storage=online_storage
        )


def pretrain(ctx: PhaseContext, loss, optimizers: dict, critic) -> None:
    """Phase 1: ``train.pretrain_steps`` Cal-QL / CQL updates on the offline data, the actor
    cloning the data actions for the first ``train.bc_steps`` of them (BC warm start); a run
    checkpoint every ``checkpoint.pretrain_every`` gradient steps and at the last."""
    t, every = plain_settings(ctx.cfg.train), ctx.cfg.checkpoint.pretrain_every
    buffer = ReplayBuffer(storage=LazyTensorStorage(ctx.offline_data.numel(), device=ctx.device), batch_size=t.batch_size)
    buffer.extend(ctx.offline_data)
    block = ctx.make_update(loss, optimizers, utd_ratio=1, tau=ctx.cfg.agent.pretrain_tau)
    update = ctx.wrap_update(block)
    first = 1
    if ctx.run_state.pending:
        first = ctx.run_state.restore(loss, optimizers, recorder=ctx.recorder, eval_env=ctx.recorder.eval_env)["grad_step"] + 1
    for step in tqdm(range(first, t.pretrain_steps + 1), desc="pre-training (gradient steps)", initial=first - 1, total=t.pretrain_steps, mininterval=2):
        block.behavior_cloning = step <= t.bc_steps
        ctx.recorder.interval.add(update(buffer.sample()))
        if step % t.pretrain_eval_every == 0 or step == t.pretrain_steps:
            result = ctx.evaluate("pretrain", step, 0, critic)
            if step == t.pretrain_steps:
                ctx.summary.record("after_pretraining", result)
        if step % every == 0 or step == t.pretrain_steps:
            ctx.run_state.save(
                "pretrain", grad_step=step, env_step=0, loss=loss, optimizers=optimizers, recorder=ctx.recorder,
                summary=ctx.summary, envs={"eval": ctx.recorder.eval_env},
            )


def online(ctx: PhaseContext, loss, optimizers: dict, critic) -> tuple[object, int]:
    """Phases 2 and 3: ``warmup_steps`` env steps with no update into a fresh buffer, then one
    UTD block per env step, for ``train.online_steps`` env steps in all (warmup included), or
    until an evaluation scores ``train.stop_score`` or more. Returns the online storage (the
    transitions in write order, scaled rewards) and the env steps taken.

    A run checkpoint is taken at the first episode end after every ``checkpoint.online_every``
    env steps: between episodes the env's whole state is its generator's
    (:class:`~torchrl_wsrl.envs.wrappers.RecordResetRNG`), while MuJoCo's state mid-episode
    (solver warm start included) cannot be restored exactly through gymnasium."""
    cfg, plan, run_state, recorder = ctx.cfg, ctx.plan, ctx.run_state, ctx.recorder
    t, algo = plain_settings(cfg.train), cfg.algo
    warmup_steps = plan.warmup_steps
    buffer, warmup, online_storage = make_replay_buffer(
        capacity=t.buffer_capacity, batch_size=t.online_batch_size, warmup_steps=plan.update_start,
        offline_data=ctx.offline_data, offline_ratio=algo.offline_ratio, device=ctx.device,
    )
    online_buffer = getattr(buffer, "online_buffer", buffer)
    env = make_env(ctx.task, seed=cfg.seed, device=ctx.device, gym_wrapper=RecordResetRNG)
    done_steps = gradient_steps = 0
    resumed_env_step = run_state.progress.get("env_step", 0) if run_state.pending else 0
    if run_state.pending:
        run_state.restore_collector_env(env)
    collector = make_collector(
        env, SamplingPolicy(ctx.actor), total_frames=t.online_steps - resumed_env_step,
        random_frames=max(warmup_steps - resumed_env_step, 0) if algo.warmup_policy == "random" else 0,
        device=ctx.device,
    )
    if run_state.pending:
        progress = run_state.restore(loss, optimizers, recorder=recorder, eval_env=recorder.eval_env, replay=online_buffer)
        done_steps, gradient_steps = progress["env_step"], progress["grad_step"]
    # Online Cal-QL stores whole episodes with their MC returns, so calibration keeps acting;
    # updates then start once one episode (and one batch) is in the buffer.
    mc_episodes = (
        EpisodeMCReturns(cfg.agent.gamma, sparse_failure_reward=sparse_failure_reward(ctx.task))
        if plan.regularized_online else None
    )
    update = ctx.wrap_update(ctx.make_update(loss, optimizers, utd_ratio=t.utd_ratio, tau=cfg.agent.tau))
    every = cfg.checkpoint.online_every
    next_checkpoint = (done_steps // every + 1) * every
    progress_bar = tqdm(total=t.online_steps, initial=done_steps, desc="online (env steps)", mininterval=2)
    env_step = done_steps
    for env_step, data in enumerate(collector, start=done_steps + 1):
        transitions = as_transitions(data, reward_scale=ctx.task.reward_scale, reward_bias=ctx.task.reward_bias)
        recorder.observe_rewards(transitions["next", "reward"])
        if mc_episodes is not None:
            transitions = mc_episodes(transitions)
        if transitions is not None:
            buffer.extend(transitions)
        # No evaluation during the warmup (it changes nothing); its end is evaluated before
        # the first update.
        if env_step == warmup_steps:
            ctx.summary.record("after_warmup", ctx.evaluate("warmup", 0, env_step, critic, online_storage))
        if warmup.warmup_complete:
            recorder.interval.add(update(buffer.sample()))
            gradient_steps += t.utd_ratio
        if env_step > warmup_steps and (env_step % t.eval_every == 0 or env_step == t.online_steps):
            ctx.summary.record("final", ctx.evaluate("online", gradient_steps, env_step, critic, online_storage))
            progress_bar.set_postfix(score=f"{ctx.summary.final:.1f}")
            if t.stop_score is not None and ctx.summary.final >= t.stop_score:
                break  # the early stop of D4RL's "medium" behaviour policies (Fu et al. 2020, Sec. 5)
        if env_step >= next_checkpoint and env_step < t.online_steps and data["next", "done"].any():
            run_state.save(
                "online", grad_step=gradient_steps, env_step=env_step, loss=loss, optimizers=optimizers, recorder=recorder,
                summary=ctx.summary, envs={"eval": recorder.eval_env, "collector": env}, replay=online_buffer,
            )
            next_checkpoint = (env_step // every + 1) * every
        progress_bar.update(1)
    progress_bar.close()
    collector.shutdown()
    return online_storage, env_step
