"""A run's metrics: the ``metrics.csv`` table, the update metrics averaged over each logging
interval, the divergence stop, and the TorchRL logger (``logger=csv|tensorboard|wandb``)."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase

# Columns of metrics.csv, one row per evaluation: counters, evaluation, Q probes, update metrics.
COUNTER_COLUMNS = ("phase", "grad_step", "env_step", "wall_time_s")
Q_EVALUATION_COLUMNS = ("q_pred", "q_mc_return")  # evaluation with a critic (WSRL Sec. 5's over-estimation)
EVALUATION_COLUMNS = ("score", "score_std", "episode_return", "episode_length", *Q_EVALUATION_COLUMNS)
PROBE_COLUMNS = ("q_online", "q_offline")
UPDATE_COLUMNS = (
    "loss_qvalue", "loss_actor", "loss_alpha", "loss_cql_alpha", "alpha", "entropy", "q_mean",
    "td_target_mean", "cql_penalty", "cql_alpha",
)
METRIC_COLUMNS = COUNTER_COLUMNS + EVALUATION_COLUMNS + PROBE_COLUMNS + UPDATE_COLUMNS
# Update metrics that estimate Q, bounded by the rewards (see q_bound).
Q_METRICS = ("q_mean", "td_target_mean")


class MetricsCSV:
    """``metrics.csv``: one row per evaluation, columns ``METRIC_COLUMNS``.

    A new run creates the file (refusing one that exists: a run never overwrites an earlier
    run's metrics); a resumed run (``resume_rows=N``) keeps its first ``N`` rows, the ones its
    checkpoint has seen, and appends after them.

    Raises:
        FileExistsError: a new run's file exists.
        ValueError: a row with a column that is not in ``METRIC_COLUMNS``.
    """

    def __init__(self, path: Path, *, resume_rows: int | None = None):
        self.path = Path(path)
        if resume_rows is None:
            try:  # "x": exclusive creation, so two jobs of a parallel sweep cannot share a run directory
                with self.path.open("x", newline="") as f:
                    csv.DictWriter(f, METRIC_COLUMNS).writeheader()
            except FileExistsError:
                raise FileExistsError(f"{self.path} exists: a run never overwrites an earlier run's metrics") from None
            self.rows = 0
        else:
            self._truncate(resume_rows)
            self.rows = resume_rows
        with self.path.open(newline="") as f:  # a run resumed from an older version keeps its columns
            self.columns = next(csv.reader(f))

    def _truncate(self, rows: int) -> None:
        lines = self.path.read_text().splitlines(keepends=True)
        if len(lines) < rows + 1:
            raise ValueError(f"{self.path} has {len(lines) - 1} rows, its checkpoint saw {rows}")
        tmp = self.path.with_suffix(".csv.tmp")
        tmp.write_text("".join(lines[: rows + 1]))
        tmp.replace(self.path)

    def write(self, row: dict) -> None:
        unknown = sorted(set(row) - set(METRIC_COLUMNS))
        if unknown:
            raise ValueError(f"metrics {unknown} have no column in {self.path.name} (metrics.METRIC_COLUMNS)")
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)
        self.rows += 1


class IntervalMetrics:
    """Sums the update metrics of every update between two metrics rows, on their device (no
    host sync per update), and keeps the largest ``|Q|`` seen.

    ``add`` a TensorDict of scalar metrics per update; ``mean`` the interval's averages and
    start a new interval. ``state_dict`` / ``load_state_dict`` for run checkpoints.
    """

    def __init__(self):
        self.sums: TensorDict | None = None
        self.count = 0
        self.q_abs_max: torch.Tensor | None = None

    @torch.no_grad()
    def add(self, metrics: TensorDictBase) -> None:
        # In place: one call per env step online, where the host time counts (RESULTS.md, end to end).
        q_abs = torch.stack([metrics[k] for k in Q_METRICS if k in metrics.keys()]).abs().amax()
        if self.sums is None:
            self.sums = metrics.detach().clone()
        else:
            self.sums.add_(metrics)
        if self.q_abs_max is None:
            self.q_abs_max = q_abs
        else:
            torch.maximum(self.q_abs_max, q_abs, out=self.q_abs_max)
        self.count += 1

    def mean(self) -> dict[str, float]:
        """Averages since the last call (``{}`` when no update ran), then a new interval."""
        out = {} if self.sums is None else {k: v.item() / self.count for k, v in self.sums.items()}
        self.sums, self.count = None, 0
        return out

    def check(self, *, phase: str, step: str, bound: float) -> None:
        """Raise :class:`DivergenceError` if a metric of this interval is NaN or infinite, or
        ``|Q|`` exceeded ``bound``; ``step`` (e.g. ``"gradient step 4000"``) names where."""
        if self.sums is None:
            return
        for key, value in self.sums.items():
            if not math.isfinite(value.item()):
                raise DivergenceError(f"divergence in {phase} at or before {step}: {key} is {value.item()} (not finite)")
        q_abs = self.q_abs_max.item()
        if q_abs > bound:
            raise DivergenceError(
                f"divergence in {phase} at or before {step}: |Q| reached {q_abs:.4g}, beyond the bound "
                f"{bound:.4g} (train.q_bound_factor x max|reward| / (1 - gamma))"
            )

    def state_dict(self) -> dict:
        return {
            "sums": {} if self.sums is None else self.sums.to_dict(),
            "count": self.count,
            "q_abs_max": self.q_abs_max,
        }

    def load_state_dict(self, state: dict) -> None:
        self.sums = TensorDict(state["sums"]) if state["sums"] else None
        self.count = int(state["count"])
        self.q_abs_max = state["q_abs_max"]


class DivergenceError(RuntimeError):
    """The run diverged (a non-finite loss or Q, or |Q| beyond its bound): it stops, its last
    checkpoint is kept."""


def q_bound(max_abs_reward: float, gamma: float, factor: float) -> float:
    """``factor * max|r| / (1 - gamma)``: ``max|r| / (1 - gamma)`` bounds the return of any
    policy under rewards ``|r| <= max|r|`` (the geometric series), so a Q estimate ``factor``
    times beyond it has diverged. ``max_abs_reward`` is taken after the task's reward scale and
    bias, over the data seen so far (at least 1, so that all-zero rewards leave room)."""
    return factor * max(max_abs_reward, 1.0) / (1.0 - gamma)


LOGGERS = ("csv", "tensorboard", "wandb")


def make_logger(kind: str | None, run_dir: Path, *, name: str, config: dict | None = None):
    """TorchRL's logger of ``kind`` (``torchrl.record.loggers``) writing under ``run_dir``:
    ``csv`` (``run_dir/logs/scalars/<phase>/<metric>.csv``), ``tensorboard`` (``run_dir/logs``,
    the ``[tensorboard]`` extra), ``wandb`` (``run_dir/wandb``, offline unless ``WANDB_MODE``
    says otherwise; the ``[wandb]`` extra); ``None``: no logger.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind is None:
        return None
    if kind not in LOGGERS:
        raise ValueError(f"logger={kind!r}: expected one of {LOGGERS}")
    from torchrl.record.loggers import get_logger

    kwargs = {}
    if kind == "wandb":
        offline = os.environ.get("WANDB_MODE", "offline") == "offline"
        kwargs = {"wandb_kwargs": {"offline": offline, "project": "torchrl-wsrl", "config": config}}
    return get_logger(kind, logger_name=str(run_dir), experiment_name="logs", **kwargs)


def log_row(logger, row: dict) -> None:
    """Send one metrics row's numbers to a TorchRL logger, as ``<phase>/<metric>`` at step
    ``grad_step`` (pre-training) or ``env_step`` (warmup and online)."""
    if logger is None:
        return
    step = row["grad_step"] if row["phase"] == "pretrain" else row["env_step"]
    for key, value in row.items():
        if key not in COUNTER_COLUMNS and value is not None:
            logger.log_scalar(f"{row['phase']}/{key}", value, step=step)
