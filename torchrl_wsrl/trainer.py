"""Sequences WSRL's phases: offline pre-training, warmup, online fine-tuning (WSRL doc, Phases 1-3).

The trainer holds no math: losses, the update step, buffers and evaluation are built elsewhere
and only wired and sequenced here. What differs between algorithms (``algo=``) is
configuration: whether to pre-train, whether the critics are restored, the warmup policy,
the online loss and the offline-data ratio.
"""
from __future__ import annotations

import csv
import ctypes
import math
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, ReplayBuffer
from tqdm.auto import tqdm

from torchrl_wsrl.agent import load_checkpoint, make_critic, make_loss, make_policy, restore, save_checkpoint
from torchrl_wsrl.data.sources import dataset_score, load_task_dataset, resolve_dataset, sparse_failure_reward
from torchrl_wsrl.envs import get_task, make_env
from torchrl_wsrl.evaluation import evaluate
from torchrl_wsrl.modules.critic import set_tf32
from torchrl_wsrl.plotting import plot_run
from torchrl_wsrl.replay import EpisodeMCReturns, as_transitions, make_replay_buffer
from torchrl_wsrl.update import UpdateStep, make_optimizers

METRIC_COLUMNS = (
    "phase", "grad_step", "env_step", "wall_time_s", "score", "episode_return", "episode_length",
    "q_pred", "q_mc_return", "q_online", "q_offline", "loss_qvalue", "loss_actor", "loss_alpha",
    "alpha", "entropy", "q_mean", "td_target_mean", "cql_penalty", "cql_alpha",
)


# glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_MAX.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Let glibc reuse freed heap memory instead of mapping fresh pages for every large tensor:
    ``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, 2 GiB)``, what the variables
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`` do at start-up. Measured here with
    those variables (2-core CPU, default profile, one thread): CQL pre-training 4.2 -> 8.5 it/s
    with two runs side by side. Returns False where the C library is not glibc (nothing
    changed)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def configure_torch(cfg: DictConfig) -> None:
    """Process-wide settings of a run: ``cfg.threads`` intra-op threads (``null``: torch's
    default), TF32 matmuls for the critic (``cfg.critic.tf32``) and :func:`keep_freed_memory`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_tf32(cfg.critic.tf32)
    keep_freed_memory()


class MetricsCSV:
    """Appends one row per evaluation to ``metrics.csv`` (columns ``METRIC_COLUMNS``)."""

    def __init__(self, path: Path):
        self.path = path
        try:  # "x": exclusive creation, so two jobs of a parallel sweep cannot share a run directory
            with path.open("x", newline="") as f:
                csv.DictWriter(f, METRIC_COLUMNS).writeheader()
        except FileExistsError:
            raise FileExistsError(f"{path} exists: a run never overwrites an earlier run's metrics") from None

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, METRIC_COLUMNS, extrasaction="ignore").writerow(row)


@dataclass
class Summary:
    """Normalized scores (0-100) at the three moments the paper compares."""

    after_pretraining: float | None = None
    after_warmup: float | None = None
    final: float | None = None
    data_score: float | None = None  # mean normalized score of the offline data's episodes
    wall_times_s: dict = field(default_factory=dict)

    def table(self) -> str:
        def fmt(v):
            return "   n/a" if v is None else f"{v:6.1f}"

        return (
            f"normalized score after pre-training {fmt(self.after_pretraining)}\n"
            f"normalized score after warmup       {fmt(self.after_warmup)}\n"
            f"normalized score at the end         {fmt(self.final)}\n"
            f"normalized score of the offline data {fmt(self.data_score)}\n"
            + "".join(f"wall time {k:<25} {v:7.1f} s\n" for k, v in self.wall_times_s.items())
        )


class Trainer:
    """Runs one experiment into ``run_dir`` (a new directory): ``config.yaml`` (resolved),
    ``metrics.csv``, ``pretrained.pt`` / ``final.pt`` checkpoints, ``learning_curve.png`` and
    ``summary.json``."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = MetricsCSV(self.run_dir / "metrics.csv")
        (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        torch.manual_seed(cfg.seed)
        self.device = torch.device(cfg.device)
        self.task = get_task(cfg.task.name)
        self.eval_env = make_env(self.task, seed=cfg.seed + 10_000, device=self.device)
        self.actor = make_policy(cfg, self.task).to(self.device)
        self.critic = make_critic(cfg, self.task).to(self.device)
        self.summary = Summary()
        self.start = time.perf_counter()
        self.offline_data: TensorDictBase | None = None

    # -- helpers ------------------------------------------------------------------------------
    def _update_step(self, loss, optimizers, utd_ratio: int, tau: float) -> UpdateStep:
        return UpdateStep(
            loss, optimizers, utd_ratio=utd_ratio, tau=tau,
            compile=self.cfg["update"].compile, cudagraphs=self.cfg["update"].cudagraphs,
        )

    def _optimizers(self, loss) -> dict:
        t = self.cfg.train
        return make_optimizers(
            loss, lr_actor=t.lr_actor, lr_critic=t.lr_critic, lr_alpha=t.lr_alpha,
            capturable=self.cfg["update"].cudagraphs,
        )

    def _mean_q(self, batch: TensorDictBase) -> float:
        with torch.no_grad():
            return self.critic.q_values(batch["observation"], batch["action"]).mean().item()

    def _evaluate(self, phase: str, grad_step: int, env_step: int, update_metrics: TensorDictBase | None, online_storage=None) -> float:
        result = evaluate(
            self.eval_env, self.actor, self.task, num_episodes=self.cfg.train.eval_episodes,
            critic=self.critic, gamma=self.cfg.agent.gamma,
        )
        row = {"phase": phase, "grad_step": grad_step, "env_step": env_step, "wall_time_s": round(time.perf_counter() - self.start, 2), **result}
        if update_metrics is not None:
            row.update({k: v.item() for k, v in update_metrics.items()})
        probe = self.cfg.train.diagnostic_batch_size
        if self.offline_data is not None:
            row["q_offline"] = self._mean_q(self.offline_data[torch.randint(self.offline_data.numel(), (probe,))].to(self.device))
        if online_storage is not None and len(online_storage):
            row["q_online"] = self._mean_q(online_storage[torch.randint(len(online_storage), (probe,))])
        self.metrics.write(row)
        plot_run(
            self.run_dir, warmup_steps=self.warmup_steps, data_score=self.summary.data_score, bc_steps=self.cfg.train.bc_steps
        )
        return result["score"]

    @property
    def warmup_steps(self) -> int:
        return self.cfg.train.warmup_steps if self.cfg.algo.warmup else 0

    @property
    def update_start(self) -> int:
        """Online transitions in the buffer before the first update: the warmup, and at least
        the online share of one batch, ``online_batch_size * (1 - offline_ratio)`` (the
        authors' ``min_steps_to_update``; WSRL doc, Phase 2). "No warmup" is warmup 0 with
        this rule, not a first update on a buffer of one transition."""
        online_share = math.ceil(self.cfg.train.online_batch_size * (1 - self.cfg.algo.offline_ratio))
        return max(self.warmup_steps, online_share)

    # -- phases -------------------------------------------------------------------------------
    def pretrain(self, loss, optimizers) -> None:
        """Phase 1: ``train.pretrain_steps`` Cal-QL / CQL updates on the offline data, the actor
        cloning the data actions for the first ``train.bc_steps`` of them (BC warm start)."""
        t = self.cfg.train
        buffer = ReplayBuffer(storage=LazyTensorStorage(self.offline_data.numel(), device=self.device), batch_size=t.batch_size)
        buffer.extend(self.offline_data)
        update = self._update_step(loss, optimizers, utd_ratio=1, tau=self.cfg.agent.pretrain_tau)
        metrics = score = None
        for step in tqdm(range(1, t.pretrain_steps + 1), desc="pre-training (gradient steps)", mininterval=2):
            update.behavior_cloning = step <= t.bc_steps
            metrics = update(buffer.sample())
            if step % t.pretrain_eval_every == 0 or step == t.pretrain_steps:
                score = self._evaluate("pretrain", step, 0, metrics)
        self.summary.after_pretraining = score

    def online(self, loss, optimizers) -> None:
        """Phases 2 and 3: ``warmup_steps`` env steps with no update into a fresh buffer, then one
        UTD block per env step, for ``train.online_steps`` env steps in all (warmup included)."""
        t, algo = self.cfg.train, self.cfg.algo
        buffer, warmup, online_storage = make_replay_buffer(
            capacity=t.buffer_capacity, batch_size=t.online_batch_size, warmup_steps=self.update_start,
            offline_data=self.offline_data, offline_ratio=algo.offline_ratio, device=self.device,
        )
        collector = Collector(
            make_env(self.task, seed=self.cfg.seed, device=self.device),
            self.actor,
            frames_per_batch=1,
            total_frames=t.online_steps,
            init_random_frames=self.warmup_steps if algo.warmup_policy == "random" else None,
            device=self.device,
        )
        # Online Cal-QL stores whole episodes with their MC returns, so calibration keeps acting;
        # updates then start once one episode (and one batch) is in the buffer.
        mc_episodes = (
            EpisodeMCReturns(self.cfg.agent.gamma, sparse_failure_reward=sparse_failure_reward(self.task))
            if algo.online_loss == "calql" else None
        )
        update = self._update_step(loss, optimizers, utd_ratio=t.utd_ratio, tau=self.cfg.agent.tau)
        metrics = score = None
        gradient_steps = 0
        progress = tqdm(total=t.online_steps, desc="online (env steps)", mininterval=2)
        for env_step, data in enumerate(collector, start=1):
            transitions = as_transitions(data, reward_scale=self.task.reward_scale, reward_bias=self.task.reward_bias)
            if mc_episodes is not None:
                transitions = mc_episodes(transitions)
            if transitions is not None:
                buffer.extend(transitions)
            # No evaluation during the warmup (it changes nothing); its end is evaluated before
            # the first update.
            if env_step == self.warmup_steps:
                score = self.summary.after_warmup = self._evaluate("warmup", 0, env_step, None, online_storage)
            if warmup.warmup_complete:
                metrics = update(buffer.sample())
                gradient_steps += t.utd_ratio
            if env_step > self.warmup_steps and (env_step % t.eval_every == 0 or env_step == t.online_steps):
                score = self._evaluate("online", gradient_steps, env_step, metrics, online_storage)
                progress.set_postfix(score=f"{score:.1f}")
            progress.update(1)
        progress.close()
        collector.shutdown()
        self.summary.final = score

    def run(self) -> Summary:
        cfg, algo = self.cfg, self.cfg.algo
        needs_data = (algo.pretrain and cfg.pretrained_checkpoint is None) or algo.offline_ratio > 0
        if needs_data:
            tic = time.perf_counter()
            path = resolve_dataset(self.task, cfg.dataset_path)
            self.offline_data = load_task_dataset(self.task, path=path, gamma=cfg.agent.gamma)
            self.summary.data_score = dataset_score(self.task, path)
            self.summary.wall_times_s["loading data"] = time.perf_counter() - tic

        checkpoint = None
        if algo.pretrain:
            pre_loss = make_loss(cfg, self.task, self.actor, self.critic, regularized=True).to(self.device)
            pre_optimizers = self._optimizers(pre_loss)
            tic = time.perf_counter()
            if cfg.pretrained_checkpoint is None:
                self.pretrain(pre_loss, pre_optimizers)
                save_checkpoint(self.run_dir / "pretrained.pt", pre_loss, pre_optimizers, task=self.task.name)
                checkpoint = load_checkpoint(self.run_dir / "pretrained.pt")
            else:
                checkpoint = load_checkpoint(cfg.pretrained_checkpoint)
                restore(pre_loss, pre_optimizers, checkpoint, source=str(cfg.pretrained_checkpoint))
                self.summary.after_pretraining = self._evaluate("pretrain", 0, 0, None)
            self.summary.wall_times_s["pre-training"] = time.perf_counter() - tic

        if cfg.train.online_steps == 0:  # pre-training only (e.g. python -m torchrl_wsrl.compare)
            return self._finish()
        if not algo.init_critic:
            self.critic = make_critic(cfg, self.task).to(self.device)
        loss = make_loss(cfg, self.task, self.actor, self.critic, regularized=algo.online_loss == "calql").to(self.device)
        optimizers = self._optimizers(loss)
        if checkpoint is not None:
            restore(loss, optimizers, checkpoint, source=str(cfg.pretrained_checkpoint or "pre-training"), policy_only=not algo.init_critic)
        tic = time.perf_counter()
        self.online(loss, optimizers)
        self.summary.wall_times_s["warmup + online"] = time.perf_counter() - tic
        save_checkpoint(self.run_dir / "final.pt", loss, optimizers, task=self.task.name)
        return self._finish()

    def _finish(self) -> Summary:
        self.summary.wall_times_s["total"] = time.perf_counter() - self.start
        (self.run_dir / "summary.json").write_text(json.dumps(self.summary.__dict__, indent=2))
        return self.summary
