"""Sequences WSRL's phases: offline pre-training, warmup, online fine-tuning (WSRL doc, Phases 1-3).

The trainer holds no math: losses, the update step, buffers and evaluation are built elsewhere
and only wired and sequenced here. What differs between algorithms (``algo=``) is
configuration: whether to pre-train, whether the critics are restored, the warmup policy,
the online loss and the offline-data ratio.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from torchrl.checkpoint import GlobalRNGState
from torchrl.data import LazyTensorStorage, ReplayBuffer
from tqdm.auto import tqdm

from torchrl_wsrl.agent import (
    agent_state, load_checkpoint, make_critic, make_loss, make_policy, network_sizes, restore, save_checkpoint,
)
from torchrl_wsrl.checkpoint import EnvRNGState, ReplayState, RunCheckpoints, check_agent_state
from torchrl_wsrl.collectors import make_collector
from torchrl_wsrl.conf.plan import RunPlan
from torchrl_wsrl.data.sources import dataset_score, load_task_dataset, resolve_dataset, sparse_failure_reward
from torchrl_wsrl.envs import get_task, make_env
from torchrl_wsrl.envs.wrappers import RecordResetRNG
from torchrl_wsrl.evaluation import evaluate
from torchrl_wsrl.metrics import DivergenceError, IntervalMetrics, MetricsCSV, log_row, make_logger, q_bound
from torchrl_wsrl.modules import SamplingPolicy
from torchrl_wsrl.plotting import plot_run
from torchrl_wsrl.replay import EpisodeMCReturns, as_transitions, make_replay_buffer
from torchrl_wsrl.update import UpdateStep, make_optimizers
from torchrl_wsrl.validation import validate_config

__all__ = ["Summary", "Trainer"]


def plain_settings(node: DictConfig) -> SimpleNamespace:
    """A config node's values as plain attributes, for the phase loops: reading a ``DictConfig``
    attribute costs ~20 us, and a loop reads several per step (benchmarks/RESULTS.md, end to
    end)."""
    return SimpleNamespace(**OmegaConf.to_container(node, resolve=True))


@dataclass
class Summary:
    """Normalized scores (0-100) at the three moments the paper compares, each with its
    evaluation noise (``*_std``: the standard deviation of the episode scores of that
    evaluation, ``train.eval_episodes`` episodes)."""

    after_pretraining: float | None = None
    after_warmup: float | None = None
    final: float | None = None
    after_pretraining_std: float | None = None
    after_warmup_std: float | None = None
    final_std: float | None = None
    data_score: float | None = None  # mean normalized score of the offline data's episodes
    online_env_steps: int | None = None  # env steps taken online (fewer than asked if train.stop_score stopped it)
    wall_times_s: dict = field(default_factory=dict)

    def record(self, moment: str, evaluation: dict) -> float:
        """Keep an evaluation's ``score`` and ``score_std`` as ``moment`` (``after_pretraining``,
        ``after_warmup`` or ``final``); returns the score."""
        setattr(self, moment, evaluation["score"])
        setattr(self, f"{moment}_std", evaluation["score_std"])
        return evaluation["score"]

    def table(self) -> str:
        def fmt(v, std=None):
            if v is None:
                return "   n/a"
            return f"{v:6.1f}" + ("" if std is None else f" +- {std:.1f}")

        change = ""
        if self.final is not None and self.after_pretraining is not None:
            delta, noise = self.final - self.after_pretraining, self.after_pretraining_std
            verdict = "" if noise is None else (
                f" (evaluation noise, std after pre-training: {noise:.1f}; "
                f"{'above' if delta > noise else 'not above'} the noise)"
            )
            change = f"change, end - after pre-training   {delta:+6.1f}{verdict}\n"
        return (
            "normalized score (mean +- std over the evaluation episodes)\n"
            f"of the offline data's episodes      {fmt(self.data_score)}\n"
            f"after pre-training                  {fmt(self.after_pretraining, self.after_pretraining_std)}\n"
            f"after warmup                        {fmt(self.after_warmup, self.after_warmup_std)}\n"
            f"at the end                          {fmt(self.final, self.final_std)}\n"
            + change
            + "".join(f"wall time {k:<25} {v:7.1f} s\n" for k, v in self.wall_times_s.items())
        )


class Trainer:
    """Runs one experiment into ``run_dir``: ``config.yaml`` (resolved), ``metrics.csv``,
    ``checkpoints/`` (the run checkpoints, :mod:`torchrl_wsrl.checkpoint`), the agent files
    ``pretrained.pt`` / ``final.pt``, ``learning_curve.png``, ``summary.json`` and the
    TorchRL logger's files under ``logs/``.

    With ``resume=True``, ``run_dir`` is a run killed earlier: the trainer goes on from its
    latest checkpoint with the config the run was started with (``cfg`` must be it), and ends
    as the uninterrupted run would have.

    Raises:
        ConfigError: ``cfg`` fails :func:`~torchrl_wsrl.validation.validate_config`.
        CheckpointMismatchError: ``pretrained_checkpoint`` or the checkpoint to resume from
            does not fit this run (checked before any work).
        DivergenceError: a non-finite loss or Q, or ``|Q|`` beyond its bound (the last
            checkpoint is kept).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, *, resume: bool = False):
        # Every input is read and checked before anything is written: a refused run leaves
        # its directory as it found it.
        validate_config(cfg)
        self.cfg = cfg
        self.plan = RunPlan.of(cfg)
        self.run_dir = Path(run_dir)
        self.task = get_task(cfg.task.name)
        self.checkpoints = RunCheckpoints(self.run_dir / "checkpoints", keep_last=cfg.checkpoint.keep_last, task=self.task.name)
        self.resume_from = self._latest_checkpoint() if resume else None
        self.resumed = None if self.resume_from is None else self.checkpoints.read(self.resume_from)
        progress = self.resumed["progress"] if self.resumed else {}
        torch.manual_seed(cfg.seed)
        self.device = torch.device(cfg.device)
        self.eval_env = make_env(self.task, seed=cfg.seed + 10_000, device=self.device)
        self.actor = make_policy(cfg, self.task).to(self.device)
        self.critic = make_critic(cfg, self.task).to(self.device)
        self.summary = Summary(**progress.get("summary", {}))
        self.start = time.perf_counter() - progress.get("elapsed_s", 0.0)
        self.interval = IntervalMetrics()
        self.max_abs_reward = torch.zeros((), device=self.device)  # over the rewards seen, scaled
        self.offline_data = self._load_offline_data()
        self.pre_loss = self.pre_optimizers = self.pretrained = None
        self.online_storage = None  # the online phase's transitions, once it ran (see online)
        if cfg.algo.pretrain:
            self.pre_loss = make_loss(cfg, self.task, self.actor, self.critic, regularized=True).to(self.device)
            self.pre_optimizers = self._optimizers(self.pre_loss)
            if cfg.pretrained_checkpoint is not None:
                self.pretrained = load_checkpoint(cfg.pretrained_checkpoint)
                check_agent_state(str(cfg.pretrained_checkpoint), self.pretrained, task=self.task.name, loss=self.pre_loss, optimizers=self.pre_optimizers)
        if self.resumed is not None:
            self._check_resumed_state(progress["phase"])

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = MetricsCSV(self.run_dir / "metrics.csv", resume_rows=progress.get("metric_rows"))
        if not resume:
            (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        self.logger = make_logger(cfg.logger, self.run_dir, name=self.task.name, config=OmegaConf.to_container(cfg, resolve=True))

    def _check_resumed_state(self, phase: str) -> None:
        """Check the checkpoint to resume from against the loss of its phase (built here only
        for the check when the phase is the online one)."""
        if phase == "pretrain":
            loss, optimizers = self.pre_loss, self.pre_optimizers
        else:
            loss = make_loss(self.cfg, self.task, self.actor, self._online_critic(), regularized=self.plan.regularized_online)
            optimizers = self._optimizers(loss, online=True)
        self.checkpoints.check(self.resume_from, self.resumed, loss=loss, optimizers=optimizers)

    def _online_critic(self):
        """The critic of the online phase: the pre-trained one, or fresh (``algo.init_critic=false``)."""
        return self.critic if self.cfg.algo.init_critic else make_critic(self.cfg, self.task).to(self.device)

    def _load_offline_data(self) -> TensorDictBase | None:
        """The offline data, if this run reads any (phase 1 without a checkpoint, or offline
        data mixed into online batches); sets the data's score and the reward bound."""
        cfg = self.cfg
        if not self.plan.needs_offline_data:
            return None
        tic = time.perf_counter()
        path = resolve_dataset(self.task, cfg.dataset_path)
        data = load_task_dataset(self.task, path=path, gamma=cfg.agent.gamma)
        self.summary.data_score = dataset_score(self.task, path)
        self.max_abs_reward.fill_(data["next", "reward"].abs().max().item())
        self.summary.wall_times_s["loading data"] = time.perf_counter() - tic
        return data

    def _latest_checkpoint(self) -> Path:
        latest = self.checkpoints.latest()
        if latest is None:
            raise FileNotFoundError(f"{self.run_dir}: no checkpoint under {self.checkpoints.directory} to resume from")
        return latest

    # -- helpers ------------------------------------------------------------------------------
    def _update_step(self, loss, optimizers, utd_ratio: int, tau: float) -> UpdateStep:
        return UpdateStep(
            loss, optimizers, utd_ratio=utd_ratio, tau=tau,
            compile=self.cfg.update_step.compile, compile_mode=self.cfg.update_step.compile_mode,
            cudagraphs=self.cfg.update_step.cudagraphs,
            precision=self.cfg.critic.precision,
        )

    def _optimizers(self, loss, *, online: bool = False) -> dict:
        """Adam per parameter group; online, the critics learn at ``train.online_lr_critic`` and
        the actor at ``train.online_lr_actor``."""
        t = self.cfg.train
        return make_optimizers(
            loss, lr_actor=t.get("online_lr_actor", t.lr_actor) if online else t.lr_actor, lr_critic=t.online_lr_critic if online else t.lr_critic, lr_alpha=t.lr_alpha,
            lr_cql_alpha=t.lr_cql_alpha, capturable=self.cfg.update_step.cudagraphs,
        )

    def _mean_q(self, batch: TensorDictBase) -> float:
        with torch.no_grad():
            return self.critic.q_values(batch["observation"], batch["action"]).mean().item()

    def _check_divergence(self, phase: str, step: str) -> None:
        bound = q_bound(self.max_abs_reward.item(), self.cfg.agent.gamma, self.cfg.train.q_bound_factor)
        self.interval.check(phase=phase, step=step, bound=bound)

    def _evaluate(self, phase: str, grad_step: int, env_step: int, online_storage=None) -> dict:
        """Evaluate the actor, write the metrics row; returns :func:`~torchrl_wsrl.evaluation.evaluate`'s result."""
        self._check_divergence(phase, f"gradient step {grad_step}, env step {env_step}")
        result = evaluate(
            self.eval_env, self.actor, self.task, num_episodes=self.cfg.train.eval_episodes,
            critic=self.critic, gamma=self.cfg.agent.gamma, deterministic=self.cfg.train.eval_policy == "deterministic",
        )
        if not math.isfinite(result["q_pred"]):
            raise DivergenceError(f"divergence in {phase} at gradient step {grad_step}, env step {env_step}: Q on the evaluation episodes is {result['q_pred']}")
        row = {"phase": phase, "grad_step": grad_step, "env_step": env_step, "wall_time_s": round(time.perf_counter() - self.start, 2), **result}
        row.update(self.interval.mean())
        probe = self.cfg.train.diagnostic_batch_size
        if self.offline_data is not None:
            row["q_offline"] = self._mean_q(self.offline_data[torch.randint(self.offline_data.numel(), (probe,))].to(self.device))
        if online_storage is not None and len(online_storage):
            row["q_online"] = self._mean_q(online_storage[torch.randint(len(online_storage), (probe,))])
        self.metrics.write(row)
        log_row(self.logger, row)
        plot_run(
            self.run_dir, warmup_steps=self.plan.warmup_steps, data_score=self.summary.data_score, bc_steps=self.cfg.train.bc_steps
        )
        return result

    def _save_checkpoint(self, phase: str, *, grad_step: int, env_step: int, loss, optimizers, replay=None, collector_env=None) -> None:
        """A run checkpoint at this point (``RunCheckpoints``), after the divergence check: a
        diverged state is never saved, the last good one is kept."""
        self._check_divergence(phase, f"gradient step {grad_step}, env step {env_step}")
        envs = {"eval": self.eval_env} if collector_env is None else {"eval": self.eval_env, "collector": collector_env}
        progress = {
            "phase": phase, "grad_step": grad_step, "env_step": env_step, "metric_rows": self.metrics.rows,
            "elapsed_s": time.perf_counter() - self.start, "max_abs_reward": self.max_abs_reward.item(),
            "summary": {k: v for k, v in self.summary.__dict__.items() if k != "wall_times_s"},
        }
        networks = OmegaConf.to_container(network_sizes(self.cfg, self.task), resolve=True)
        position = grad_step if phase == "pretrain" else self.cfg.train.pretrain_steps + env_step
        self.checkpoints.save(
            position, loss=loss, optimizers=optimizers, replay=replay, envs=envs, progress=progress, interval=self.interval,
            run={"networks": {**networks, "num_critics": self.cfg.agent.num_critics}, "config": OmegaConf.to_container(self.cfg, resolve=True)},
        )

    def _restore_run_state(self, loss, optimizers, *, replay=None) -> dict:
        """Apply the checkpoint being resumed from to this phase's pieces (checked first) and
        return its progress. The global generators come last, after every piece was built; the
        collector's env generator is not restored here but before the collector is built
        (:meth:`online`)."""
        states = self.resumed  # checked against this phase's loss in __init__
        loss.load_state_dict(states["loss"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(states["optimizers"][name])
        if replay is not None:
            ReplayState(replay).load_state_dict(states["replay"])
        EnvRNGState(eval=self.eval_env).load_state_dict({"eval": states["env_rng"]["eval"]})
        self.interval.load_state_dict(states["interval"])
        self.max_abs_reward.fill_(states["progress"]["max_abs_reward"])
        GlobalRNGState().load_state_dict(states["rng"])
        self.resumed = None  # applied once
        return states["progress"]

    # -- phases -------------------------------------------------------------------------------
    def pretrain(self, loss, optimizers) -> None:
        """Phase 1: ``train.pretrain_steps`` Cal-QL / CQL updates on the offline data, the actor
        cloning the data actions for the first ``train.bc_steps`` of them (BC warm start); a
        run checkpoint every ``checkpoint.pretrain_every`` gradient steps and at the last."""
        t, every = plain_settings(self.cfg.train), self.cfg.checkpoint.pretrain_every
        buffer = ReplayBuffer(storage=LazyTensorStorage(self.offline_data.numel(), device=self.device), batch_size=t.batch_size)
        buffer.extend(self.offline_data)
        update = self._update_step(loss, optimizers, utd_ratio=1, tau=self.cfg.agent.pretrain_tau)
        first = 1
        if self.resumed is not None:
            first = self._restore_run_state(loss, optimizers)["grad_step"] + 1
        for step in tqdm(range(first, t.pretrain_steps + 1), desc="pre-training (gradient steps)", initial=first - 1, total=t.pretrain_steps, mininterval=2):
            update.behavior_cloning = step <= t.bc_steps
            self.interval.add(update(buffer.sample()))
            if step % t.pretrain_eval_every == 0 or step == t.pretrain_steps:
                result = self._evaluate("pretrain", step, 0)
                if step == t.pretrain_steps:
                    self.summary.record("after_pretraining", result)
            if step % every == 0 or step == t.pretrain_steps:
                self._save_checkpoint("pretrain", grad_step=step, env_step=0, loss=loss, optimizers=optimizers)

    def online(self, loss, optimizers) -> None:
        """Phases 2 and 3: ``warmup_steps`` env steps with no update into a fresh buffer, then one
        UTD block per env step, for ``train.online_steps`` env steps in all (warmup included),
        or until an evaluation scores ``train.stop_score`` or more. The online transitions stay
        in ``self.online_storage`` (write order, scaled rewards) after the phase.

        A run checkpoint is taken at the first episode end after every
        ``checkpoint.online_every`` env steps: between episodes the env's whole state is its
        generator's (:class:`~torchrl_wsrl.envs.wrappers.RecordResetRNG`), while MuJoCo's
        state mid-episode (solver warm start included) cannot be restored exactly through
        gymnasium."""
        t, algo = plain_settings(self.cfg.train), self.cfg.algo
        warmup_steps = self.plan.warmup_steps
        buffer, warmup, online_storage = make_replay_buffer(
            capacity=t.buffer_capacity, batch_size=t.online_batch_size, warmup_steps=self.plan.update_start,
            offline_data=self.offline_data, offline_ratio=algo.offline_ratio, device=self.device,
        )
        online_buffer = getattr(buffer, "online_buffer", buffer)
        self.online_storage = online_storage  # the online transitions in write order, kept after the run
        env = make_env(self.task, seed=self.cfg.seed, device=self.device, gym_wrapper=RecordResetRNG)
        done_steps = gradient_steps = 0
        if self.resumed is not None:
            # Before the collector resets the env: that reset draws the start state the
            # uninterrupted run's collector drew after the checkpoint's episode end.
            EnvRNGState(collector=env).load_state_dict({"collector": self.resumed["env_rng"]["collector"]})
        collector = make_collector(
            env, SamplingPolicy(self.actor), total_frames=t.online_steps - self._resumed_env_step(),
            random_frames=max(warmup_steps - self._resumed_env_step(), 0) if algo.warmup_policy == "random" else 0,
            device=self.device,
        )
        if self.resumed is not None:
            progress = self._restore_run_state(loss, optimizers, replay=online_buffer)
            done_steps, gradient_steps = progress["env_step"], progress["grad_step"]
        # Online Cal-QL stores whole episodes with their MC returns, so calibration keeps acting;
        # updates then start once one episode (and one batch) is in the buffer.
        mc_episodes = (
            EpisodeMCReturns(self.cfg.agent.gamma, sparse_failure_reward=sparse_failure_reward(self.task))
            if self.plan.regularized_online else None
        )
        update = self._update_step(loss, optimizers, utd_ratio=t.utd_ratio, tau=self.cfg.agent.tau)
        every = self.cfg.checkpoint.online_every
        next_checkpoint = (done_steps // every + 1) * every
        progress_bar = tqdm(total=t.online_steps, initial=done_steps, desc="online (env steps)", mininterval=2)
        env_step = done_steps
        for env_step, data in enumerate(collector, start=done_steps + 1):
            transitions = as_transitions(data, reward_scale=self.task.reward_scale, reward_bias=self.task.reward_bias)
            torch.maximum(self.max_abs_reward, transitions["next", "reward"].abs().max(), out=self.max_abs_reward)
            if mc_episodes is not None:
                transitions = mc_episodes(transitions)
            if transitions is not None:
                buffer.extend(transitions)
            # No evaluation during the warmup (it changes nothing); its end is evaluated before
            # the first update.
            if env_step == warmup_steps:
                self.summary.record("after_warmup", self._evaluate("warmup", 0, env_step, online_storage))
            if warmup.warmup_complete:
                self.interval.add(update(buffer.sample()))
                gradient_steps += t.utd_ratio
            if env_step > warmup_steps and (env_step % t.eval_every == 0 or env_step == t.online_steps):
                self.summary.record("final", self._evaluate("online", gradient_steps, env_step, online_storage))
                progress_bar.set_postfix(score=f"{self.summary.final:.1f}")
                if t.stop_score is not None and self.summary.final >= t.stop_score:
                    break  # the early stop of D4RL's "medium" behaviour policies (Fu et al. 2020, Sec. 5)
            if env_step >= next_checkpoint and env_step < t.online_steps and data["next", "done"].any():
                self._save_checkpoint(
                    "online", grad_step=gradient_steps, env_step=env_step, loss=loss, optimizers=optimizers,
                    replay=online_buffer, collector_env=env,
                )
                next_checkpoint = (env_step // every + 1) * every
            progress_bar.update(1)
        progress_bar.close()
        collector.shutdown()
        self.summary.online_env_steps = env_step

    def _resumed_env_step(self) -> int:
        return self.resumed["progress"]["env_step"] if self.resumed is not None else 0

    def run(self) -> Summary:
        cfg, algo = self.cfg, self.cfg.algo
        resume_phase = self.resumed["progress"]["phase"] if self.resumed else None
        pre_loss, pre_optimizers, pretrained = self.pre_loss, self.pre_optimizers, self.pretrained
        if algo.pretrain and resume_phase != "online":
            tic = time.perf_counter()
            if pretrained is None:
                self.pretrain(pre_loss, pre_optimizers)
                pretrained = agent_state(pre_loss, pre_optimizers, task=self.task.name)
                if not (self.run_dir / "pretrained.pt").exists():  # a resumed run may have written it
                    save_checkpoint(self.run_dir / "pretrained.pt", pre_loss, pre_optimizers, task=self.task.name)
            else:
                restore(pre_loss, pre_optimizers, pretrained, source=str(cfg.pretrained_checkpoint))
                self.summary.record("after_pretraining", self._evaluate("pretrain", 0, 0))
            self.summary.wall_times_s["pre-training"] = time.perf_counter() - tic

        if not self.plan.online:  # pre-training only (e.g. wsrl-compare)
            return self._finish()
        self.critic = self._online_critic()
        loss = make_loss(cfg, self.task, self.actor, self.critic, regularized=self.plan.regularized_online).to(self.device)
        optimizers = self._optimizers(loss, online=True)
        if pretrained is not None and resume_phase != "online":
            restore(loss, optimizers, pretrained, source=str(cfg.pretrained_checkpoint or "pre-training"), policy_only=not algo.init_critic)
        tic = time.perf_counter()
        self.online(loss, optimizers)
        self.summary.wall_times_s["warmup + online"] = time.perf_counter() - tic
        if not (self.run_dir / "final.pt").exists():
            save_checkpoint(self.run_dir / "final.pt", loss, optimizers, task=self.task.name)
        return self._finish()

    def _finish(self) -> Summary:
        self.summary.wall_times_s["total"] = time.perf_counter() - self.start
        (self.run_dir / "summary.json").write_text(json.dumps(self.summary.__dict__, indent=2))
        if self.logger is not None and hasattr(self.logger, "close"):
            self.logger.close()
        return self.summary
