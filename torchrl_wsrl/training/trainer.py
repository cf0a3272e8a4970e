"""Sequences WSRL's phases: offline pre-training, warmup, online fine-tuning (WSRL doc, Phases 1-3).

The trainer holds no math and no loop of its own: it builds the run's pieces from the config
(the agent, :mod:`torchrl_wsrl.agent`; the records, :class:`~torchrl_wsrl.training.recorder.Recorder`;
the checkpoints, :class:`~torchrl_wsrl.training.run_state.RunState`) and runs the phase loops of
:mod:`torchrl_wsrl.training.phases` in the order the run's
:class:`~torchrl_wsrl.conf.plan.RunPlan` says. What differs between algorithms (``algo=``) is
configuration: whether to pre-train, whether the critics are restored, the warmup policy,
the online loss and the offline-data ratio.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase

from torchrl_wsrl.agent import Agent, build_agent, make_critic, make_policy
from torchrl_wsrl.assets import shipped_agent_info
from torchrl_wsrl.checkpoint import CQL_MULTIPLIER, agent_state, check_agent_state, load_checkpoint, restore, save_checkpoint
from torchrl_wsrl.conf.plan import RunPlan
from torchrl_wsrl.data.sources import dataset_score, load_task_dataset, resolve_dataset
from torchrl_wsrl.envs import get_task, make_env
from torchrl_wsrl.training.phases import PhaseContext, online, pretrain
from torchrl_wsrl.training.recorder import Recorder
from torchrl_wsrl.training.run_state import RunState
from torchrl_wsrl.update import UpdateStep
from torchrl_wsrl.validation import validate_config

__all__ = ["Hooks", "Summary", "Trainer"]


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
    agent: str | None = None  # where the fine-tuned agent came from (RunPlan.agent_source, and its file)
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
                f" (evaluation noise, std after pre-training: {noise:.1f}; {noise_verdict(delta, noise)} the noise)"
            )
            change = f"change, end - after pre-training   {delta:+6.1f}{verdict}\n"
        return (
            (f"agent: {self.agent}\n" if self.agent else "")
            + "normalized score (mean +- std over the evaluation episodes)\n"
            f"of the offline data's episodes      {fmt(self.data_score)}\n"
            f"after pre-training                  {fmt(self.after_pretraining, self.after_pretraining_std)}\n"
            f"after warmup                        {fmt(self.after_warmup, self.after_warmup_std)}\n"
            f"at the end                          {fmt(self.final, self.final_std)}\n"
            + change
            + "".join(f"wall time {k:<25} {v:7.1f} s\n" for k, v in self.wall_times_s.items())
        )


def _agent_origin(plan: RunPlan, task_name: str) -> str:
    """One line naming where the run's agent comes from (the summary's first line)."""
    if plan.agent_source == "shipped":
        info = shipped_agent_info(task_name)
        return (
            f"the shipped agent of {info['task']} ({info['algorithm']}, {info['gradient_steps']:,} gradient steps, "
            f"score {info['score']:.1f}; {plan.agent_file})"
        )
    return {"pretrained_checkpoint": f"the agent file {plan.agent_file}", "pre-training": "pre-trained by this run"}.get(
        plan.agent_source, "trained from scratch (this algo does not pre-train)"
    )


def noise_verdict(change: float, noise: float) -> str:
    """Whether a score ``change`` is ``"above"``, ``"within"`` or ``"below"`` the evaluation
    ``noise`` (the std of the episode scores): above if ``change > noise``, below if
    ``change < -noise``."""
    if change > noise:
        return "above"
    return "below" if change < -noise else "within"


def _identity(fn):
    return fn


@dataclass
class Hooks:
    """Wrappers around a run's hot calls, for timing or tracing (benchmarks, tests). Each takes
    the callable and returns one with the same signature:

    - ``update``: each update block the phases build (:class:`~torchrl_wsrl.update.UpdateStep`;
      the phases call the wrapper with a batch and set ``behavior_cloning`` on the block);
    - ``evaluate``: :meth:`Recorder.evaluate <torchrl_wsrl.training.recorder.Recorder.evaluate>`;
    - ``checkpoint``: :meth:`RunState.save <torchrl_wsrl.training.run_state.RunState.save>`.
    """

    update: Callable = _identity
    evaluate: Callable = _identity
    checkpoint: Callable = _identity


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
        CheckpointMismatchError: the agent file to start from (``pretrained_checkpoint``, the
            shipped agent) or the checkpoint to resume from
            does not fit this run (checked before any work).
        DivergenceError: a non-finite loss or Q, or ``|Q|`` beyond its bound (the last
            checkpoint is kept).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, *, resume: bool = False, hooks: Hooks | None = None):
        # Every input is read and checked before anything is written: a refused run leaves
        # its directory as it found it.
        validate_config(cfg)
        self.cfg, self.run_dir, self.plan, self.hooks = cfg, Path(run_dir), RunPlan.of(cfg), hooks or Hooks()
        self.task = get_task(cfg.task.name)
        self.run_state = RunState(self.run_dir, cfg, self.task, resume=resume)
        progress = self.run_state.progress
        torch.manual_seed(cfg.seed)
        self.device = torch.device(cfg.device)
        self.eval_env = make_env(self.task, seed=cfg.seed + 10_000, device=self.device)
        self.actor = make_policy(cfg, self.task).to(self.device)
        self.critic = make_critic(cfg, self.task).to(self.device)
        self.summary = Summary(**progress.get("summary", {}))
        self.summary.agent = _agent_origin(self.plan, self.task.name)
        if self.plan.agent_source == "shipped" and self.summary.data_score is None:
            self.summary.data_score = shipped_agent_info(self.task.name)["data_score"]  # the data it was trained on
        start = time.perf_counter() - progress.get("elapsed_s", 0.0)
        self.offline_data, max_abs_reward = self._load_offline_data()
        self.pre_loss = self.pre_optimizers = self.pretrained = None
        self.online_storage = None  # the online phase's transitions, once it ran
        if cfg.algo.pretrain:
            pre = self._agent(self.critic, regularized=True)
            self.pre_loss, self.pre_optimizers = pre.loss, pre.optimizers
            if self.plan.from_checkpoint:
                self.pretrained = load_checkpoint(self.plan.agent_file)
                check_agent_state(
                    self.plan.agent_file, self.pretrained, task=self.task.name, loss=self.pre_loss,
                    optimizers=self.pre_optimizers, allow_missing=CQL_MULTIPLIER,  # any agent file, final.pt included
                )
        if self.run_state.pending:
            self._check_resumed_state(progress["phase"])

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.recorder = Recorder(
            self.run_dir, cfg, self.task, self.eval_env, warmup_steps=self.plan.warmup_steps,
            resume_rows=progress.get("metric_rows"), start=start, device=self.device,
        )
        self.recorder.data_score = self.summary.data_score
        self.recorder.max_abs_reward.fill_(max_abs_reward)
        self.recorder.evaluate = self.hooks.evaluate(self.recorder.evaluate)
        self.run_state.save = self.hooks.checkpoint(self.run_state.save)
        if not resume:
            (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    def _check_resumed_state(self, phase: str) -> None:
        """Check the checkpoint to resume from against the loss of its phase (built here only
        for the check when the phase is the online one)."""
        if phase == "pretrain":
            loss, optimizers = self.pre_loss, self.pre_optimizers
        else:
            agent = self._agent(self._online_critic(), regularized=self.plan.regularized_online, online=True)
            loss, optimizers = agent.loss, agent.optimizers
        self.run_state.check(loss=loss, optimizers=optimizers)

    def _agent(self, critic, *, regularized: bool, online: bool = False) -> Agent:
        """The run's actor with ``critic``, the loss and its optimizers (:func:`~torchrl_wsrl.agent.build_agent`)."""
        return build_agent(self.cfg, self.task, regularized=regularized, online=online, actor=self.actor, critic=critic, device=self.device)

    def _online_critic(self):
        """The critic of the online phase: the pre-trained one, or fresh (``algo.init_critic=false``)."""
        return self.critic if self.cfg.algo.init_critic else make_critic(self.cfg, self.task).to(self.device)

    def _load_offline_data(self) -> tuple[TensorDictBase | None, float]:
        """The offline data and its largest ``|reward|`` (scaled), if this run reads any
        (:attr:`RunPlan.needs_offline_data`); sets the data's score in the summary."""
        if not self.plan.needs_offline_data:
            return None, 0.0
        tic = time.perf_counter()
        path = resolve_dataset(self.task, self.cfg.dataset_path)
        data = load_task_dataset(self.task, path=path, gamma=self.cfg.agent.gamma)
        self.summary.data_score = dataset_score(self.task, path)
        self.summary.wall_times_s["loading data"] = time.perf_counter() - tic
        return data, data["next", "reward"].abs().max().item()

    def make_update(self, loss, optimizers, *, utd_ratio: int, tau: float):
        """One update block (:class:`~torchrl_wsrl.update.UpdateStep`) with the run's hot-path
        switches (``update_step.*``, ``critic.precision``)."""
        return UpdateStep(
            loss, optimizers, utd_ratio=utd_ratio, tau=tau,
            compile=self.cfg.update_step.compile, compile_mode=self.cfg.update_step.compile_mode,
            cudagraphs=self.cfg.update_step.cudagraphs, precision=self.cfg.critic.precision,
        )

    def phase_context(self) -> PhaseContext:
        """The collaborators of the phase loops (:func:`~torchrl_wsrl.training.phases.pretrain`,
        :func:`~torchrl_wsrl.training.phases.online`), for calling one phase alone."""
        return PhaseContext(
            cfg=self.cfg, plan=self.plan, task=self.task, device=self.device, actor=self.actor, recorder=self.recorder,
            run_state=self.run_state, summary=self.summary, make_update=self.make_update, offline_data=self.offline_data,
            wrap_update=self.hooks.update,
        )

    def run(self) -> Summary:
        """Pre-training (or the agent of :attr:`RunPlan.agent_file`), then warmup and online
        fine-tuning, as :attr:`plan` says; writes the agent files and ``summary.json``."""
        cfg, ctx = self.cfg, self.phase_context()
        resume_phase = self.run_state.progress.get("phase")
        pretrained = self.pretrained
        if cfg.algo.pretrain and resume_phase != "online":
            tic = time.perf_counter()
            if pretrained is None:
                pretrain(ctx, self.pre_loss, self.pre_optimizers, self.critic)
                pretrained = agent_state(self.pre_loss, self.pre_optimizers, task=self.task.name)
                if not (self.run_dir / "pretrained.pt").exists():  # a resumed run may have written it
                    save_checkpoint(self.run_dir / "pretrained.pt", self.pre_loss, self.pre_optimizers, task=self.task.name)
            else:
                restore(self.pre_loss, self.pre_optimizers, pretrained, source=self.plan.agent_file)
                self.summary.record("after_pretraining", ctx.evaluate("pretrain", 0, 0, self.critic))
            self.summary.wall_times_s["pre-training"] = time.perf_counter() - tic

        if not self.plan.online:  # pre-training only (e.g. wsrl-compare)
            return self._finish()
        self.critic = self._online_critic()
        agent = self._agent(self.critic, regularized=self.plan.regularized_online, online=True)
        loss, optimizers = agent.loss, agent.optimizers
        if pretrained is not None and resume_phase != "online":
            restore(loss, optimizers, pretrained, source=self.plan.agent_file or "pre-training", policy_only=not cfg.algo.init_critic)
        tic = time.perf_counter()
        self.online_storage, self.summary.online_env_steps = online(ctx, loss, optimizers, self.critic)
        self.summary.wall_times_s["warmup + online"] = time.perf_counter() - tic
        if not (self.run_dir / "final.pt").exists():
            save_checkpoint(self.run_dir / "final.pt", loss, optimizers, task=self.task.name)
        return self._finish()

    def _finish(self) -> Summary:
        self.summary.wall_times_s["total"] = self.recorder.elapsed_s
        (self.run_dir / "summary.json").write_text(json.dumps(self.summary.__dict__, indent=2))
        self.recorder.close()
        return self.summary
