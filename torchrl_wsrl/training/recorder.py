"""What a run records: its evaluations, ``metrics.csv``, the TorchRL logger, the learning curve
and the divergence check (:class:`Recorder`)."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from torchrl.envs import EnvBase

from torchrl_wsrl.envs import Task
from torchrl_wsrl.evaluation import evaluate
from torchrl_wsrl.metrics import DivergenceError, IntervalMetrics, MetricsCSV, log_row, make_logger, q_bound
from torchrl_wsrl.plotting import plot_run

__all__ = ["Recorder"]


class Recorder:
    """Evaluates the actor and writes one metrics row per evaluation: ``metrics.csv``, the
    TorchRL logger under ``RUN_DIR/logs``, ``learning_curve.png``. Between evaluations it
    averages the update blocks' metrics (:class:`~torchrl_wsrl.metrics.IntervalMetrics`) and
    tracks the largest ``|reward|`` seen (scaled), the scale of the divergence bound
    (:func:`~torchrl_wsrl.metrics.q_bound`).

    Args:
        run_dir: the run directory (created by the caller).
        cfg: the run config; reads ``train.eval_episodes``, ``train.eval_policy``,
            ``train.diagnostic_batch_size``, ``agent.gamma``, ``train.q_bound_factor``,
            ``train.bc_steps``, ``logger``.
        task: the run's task.
        eval_env: the evaluation env (its own seed).
        warmup_steps: env steps of the warmup, marked on the learning curve.
        resume_rows: rows of ``metrics.csv`` the checkpoint being resumed from knew of (later
            rows are dropped); ``None`` for a new run.
        start: the ``time.perf_counter()`` the run's wall time counts from (earlier by the time
            it had already spent, when resumed).
    """

    def __init__(
        self, run_dir: Path, cfg: DictConfig, task: Task, eval_env: EnvBase, *, warmup_steps: int,
        resume_rows: int | None = None, start: float | None = None, device: torch.device | str = "cpu",
    ):
        self.run_dir, self.cfg, self.task, self.eval_env = Path(run_dir), cfg, task, eval_env
        self.warmup_steps = warmup_steps
        self.start = time.perf_counter() if start is None else start
        self.interval = IntervalMetrics()
        self.max_abs_reward = torch.zeros((), device=device)
        self.data_score: float | None = None
        self.metrics = MetricsCSV(self.run_dir / "metrics.csv", resume_rows=resume_rows)
        self.logger = make_logger(cfg.logger, self.run_dir, name=task.name, config=OmegaConf.to_container(cfg, resolve=True))

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start

    def observe_rewards(self, rewards: torch.Tensor) -> None:
        """Keep the largest ``|reward|`` of ``rewards`` (scaled, any shape), on the device."""
        torch.maximum(self.max_abs_reward, rewards.abs().max(), out=self.max_abs_reward)

    def check_divergence(self, phase: str, step: str) -> None:
        """Raise :class:`~torchrl_wsrl.metrics.DivergenceError` if a loss or Q since the last
        row is non-finite or ``|Q|`` is beyond its bound; ``step`` names where."""
        bound = q_bound(self.max_abs_reward.item(), self.cfg.agent.gamma, self.cfg.train.q_bound_factor)
        self.interval.check(phase=phase, step=step, bound=bound)

    def evaluate(
        self, phase: str, grad_step: int, env_step: int, actor, critic, *,
        offline_data: TensorDictBase | None = None, online_storage=None,
    ) -> dict:
        """Evaluate ``actor`` (``train.eval_episodes`` episodes, deterministic or sampling as
        ``train.eval_policy``; Q of ``critic`` against the MC return), write the metrics row
        (with the mean Q on a probe of the offline data and of the online buffer, where
        given) and redraw the learning curve; returns
        :func:`~torchrl_wsrl.evaluation.evaluate`'s result.

        Raises:
            DivergenceError: as :meth:`check_divergence`, or Q on the evaluation episodes is
                not finite.
        """
        self.check_divergence(phase, f"gradient step {grad_step}, env step {env_step}")
        t = self.cfg.train
        result = evaluate(
            self.eval_env, actor, self.task, num_episodes=t.eval_episodes,
            critic=critic, gamma=self.cfg.agent.gamma, deterministic=t.eval_policy == "deterministic",
        )
        if not math.isfinite(result["q_pred"]):
            raise DivergenceError(f"divergence in {phase} at gradient step {grad_step}, env step {env_step}: Q on the evaluation episodes is {result['q_pred']}")
        row = {"phase": phase, "grad_step": grad_step, "env_step": env_step, "wall_time_s": round(self.elapsed_s, 2), **result}
        row.update(self.interval.mean())
        if offline_data is not None:
            row["q_offline"] = _mean_q(critic, offline_data[torch.randint(offline_data.numel(), (t.diagnostic_batch_size,))].to(self.max_abs_reward.device))
        if online_storage is not None and len(online_storage):
            row["q_online"] = _mean_q(critic, online_storage[torch.randint(len(online_storage), (t.diagnostic_batch_size,))])
        self.metrics.write(row)
        log_row(self.logger, row)
        plot_run(self.run_dir, warmup_steps=self.warmup_steps, data_score=self.data_score, bc_steps=t.bc_steps)
        return result

    def close(self) -> None:
        if self.logger is not None and hasattr(self.logger, "close"):
            self.logger.close()


def _mean_q(critic, batch: TensorDictBase) -> float:
    with torch.no_grad():
        return critic.q_values(batch["observation"], batch["action"]).mean().item()
