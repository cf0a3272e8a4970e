"""Compare runs: score curves, Q diagnostics and a score table, by algorithm over seeds (the
library behind ``wsrl-report``, :mod:`torchrl_wsrl.cli.report`, and ``wsrl-compare``).

    wsrl-report runs/multirun/2026-01-01_12-00-00-000000 --steps 0,1000,2500
    wsrl-report RUN_DIR [RUN_DIR ...] --out report/ [--overwrite]

Each argument is a run directory (one ``metrics.csv`` and the ``config.yaml`` the trainer
wrote next to it) or any folder above run directories, searched recursively. Runs are grouped
by algorithm (``algo.name``; ``task/algo`` when several tasks are present) and by every setting
the runs sweep (a key whose value differs between runs of one algorithm, e.g. ``critic.head``),
and every number is the mean and standard error over the group's seeds. Written to ``--out`` (default: the
arguments' common folder):

- ``score_curves.png``: normalized score (0-100) against online env steps, one line per
  algorithm, its 95% bootstrap confidence band shaded, the end of each warmup marked.
- ``q_diagnostics.png``: per algorithm, predicted Q against the MC return on the evaluation
  episodes, and mean Q on online against offline transitions: the warmup is there to keep Q
  from diverging at the switch to online training (WSRL doc, "The idea in one paragraph").
- ``scores.md``: the score table (:func:`score_table`, mean ± s.e.), the final score's
  interquartile mean with its 95% stratified bootstrap interval (:func:`iqm_table`) and the dip
  after the first updates (:func:`dip_table`, mean and 95% bootstrap CI).
- ``performance_profile.png``: the fraction of runs above each final score, per group, with its
  stratified bootstrap band (:func:`plot_performance_profiles`).

The IQM, the stratified bootstrap and the performance profiles follow rliable (Agarwal et al.,
NeurIPS 2021), computed here with numpy / scipy: rliable itself does not import next to
pandas 3 (its ``arch`` dependency fails at import, arch 7.2.0 with pandas 3.1.1).

The online timeline starts at env step 0 with the last pre-training evaluation, so "env step 0"
is the end of pre-training; the warmup, if any, covers env steps ``(0, warmup_steps]``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import scipy.stats
import yaml
from omegaconf import DictConfig, OmegaConf

from torchrl_wsrl.metrics import PROBE_COLUMNS, Q_EVALUATION_COLUMNS
from torchrl_wsrl.plotting import read_metrics

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = ("pretrain", "warmup", "online")
# metrics.csv columns the report reads (the trainer writes more: metrics.METRIC_COLUMNS).
VALUE_COLUMNS = ("wall_time_s", "score", *Q_EVALUATION_COLUMNS, *PROBE_COLUMNS)
REQUIRED_COLUMNS = ("phase", "grad_step", "env_step", *VALUE_COLUMNS)
CONFIG_KEYS = ("algo.name", "algo.warmup", "seed", "task.name", "train.warmup_steps", "train.online_steps")
DIP_FRACTION = 0.2  # the dip: min score over the first 20% of the online updates' env steps
# Config entries expected to differ between runs of one algorithm.
PER_RUN_KEYS = ("seed", "runs_root", "pretrained_checkpoint")  # compare: one pre-trained file per seed
# ... and entries of where or how a run ran, not of what it tried: never a swept setting.
NOT_SETTINGS = (*PER_RUN_KEYS, "threads", "device", "logger", "resume")
REPORT_FILES = ("scores.md", "score_curves.png", "q_diagnostics.png", "performance_profile.png")
MIN_SEEDS = 3  # fewer seeds than this: an interval is marked as saying little


class ReportError(ValueError):
    """A run directory that cannot be reported on (no runs, malformed metrics or config)."""


@dataclass(frozen=True)
class Run:
    """One run: its identity from ``config.yaml`` and its evaluations from ``metrics.csv``.

    ``timeline[column]`` maps online env steps to the column's values (NaN: not measured):
    the last pre-training evaluation at env step 0, then the warmup and online evaluations.
    Where two evaluations share an env step (the end-of-warmup one and a scheduled one) the
    later row wins.
    """

    path: Path
    algo: str
    seed: int
    task: str
    warmup_steps: int  # env steps of warmup actually run: 0 without warmup
    online_steps: int  # env steps of the online phase, warmup included
    updates_from: int  # env step of the last evaluation before the first online update
    config: dict  # the flattened config.yaml, for consistency checks
    after_pretraining: float | None
    after_warmup: float | None
    final: float
    wall_time_s: float  # at the last evaluation, since the trainer started
    timeline: dict[str, dict[int, float]]
    finished: bool = True  # it wrote summary.json; else killed, diverged or still running

    @property
    def last_env_step(self) -> int:
        """Online env steps at its last evaluation."""
        return max(self.timeline["score"])

    @property
    def group(self) -> tuple[str, str]:
        return self.task, self.algo

    def score_at(self, env_step: int) -> float | None:
        """Score of the last evaluation at or before ``env_step`` online env steps (``None``
        if the run has none: no pre-training and ``env_step`` before its first evaluation, or
        an unfinished run that has not reached ``env_step``)."""
        if not self.finished and env_step > self.last_env_step:
            return None
        steps = [s for s in self.timeline["score"] if s <= env_step]
        return self.timeline["score"][max(steps)] if steps else None

    def dip(self, fraction: float = DIP_FRACTION) -> float | None:
        """Lowest score of the evaluations in the first ``fraction`` of the online updates: env
        steps ``(u, u + fraction * (online_steps - u)]`` with ``u = updates_from``, so that env
        steps that update nothing (a warmup, or ``calql_online`` filling its first batch with
        whole episodes) never fill the window. ``None`` if no evaluation falls in it, or if the
        run has not finished and not yet passed the window. How far
        the policy falls when online updates start (WSRL Sec. 5; WSRL doc, "What the paper
        reports")."""
        start = self.updates_from
        end = start + fraction * (self.online_steps - start)
        if not self.finished and self.last_env_step < end:  # its window is not over yet
            return None
        scores = [v for s, v in self.timeline["score"].items() if start < s <= end]
        return min(scores) if scores else None


def _number(value: str | None, path: Path, line: int, column: str) -> float:
    if value is None:
        raise ReportError(f"{path}: line {line} has fewer fields than the header (column {column!r} missing)")
    if value == "":
        return math.nan
    try:
        return float(value)
    except ValueError:
        raise ReportError(f"{path}: line {line}, column {column!r}: {value!r} is not a number") from None


def _parse_metrics(path: Path) -> list[dict]:
    """``metrics.csv`` rows with ``phase`` (str), ``env_step`` (int) and ``VALUE_COLUMNS``
    (float, NaN where empty). Raises :class:`ReportError` naming the file, line and column."""
    rows = read_metrics(path)
    if not rows:
        raise ReportError(f"{path}: no evaluation rows")
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0]]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}; the header is {list(rows[0])}")
    parsed = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if None in row:
            raise ReportError(f"{path}: line {line} has more fields than the header")
        if row["phase"] not in PHASES:
            raise ReportError(f"{path}: line {line}, column 'phase': {row['phase']!r} is not one of {PHASES}")
        env_step = _number(row["env_step"], path, line, "env_step")
        if not env_step.is_integer():
            raise ReportError(f"{path}: line {line}, column 'env_step': {row['env_step']!r} is not an integer")
        values = {c: _number(row[c], path, line, c) for c in VALUE_COLUMNS}
        if math.isnan(values["score"]):
            raise ReportError(f"{path}: line {line}, column 'score' is empty")
        grad_step = _number(row["grad_step"], path, line, "grad_step")
        parsed.append({"phase": row["phase"], "env_step": int(env_step), "grad_step": grad_step, **values})
    return parsed


def _flatten(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _updates_from(rows: list[dict]) -> int:
    """Env step of the last warmup or online evaluation that no online gradient step precedes
    (``grad_step`` 0), 0 if there is none: where the online updates begin, to the evaluations'
    resolution."""
    steps = [r["env_step"] for r in rows if r["phase"] != "pretrain" and r["grad_step"] == 0]
    return max(steps, default=0)


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read one run directory (``metrics.csv`` and ``config.yaml``).

    Raises:
        ReportError: a file is missing, ``metrics.csv`` is malformed (the message names the
            file, line and column), ``config.yaml`` is not a YAML mapping or lacks one of
            ``CONFIG_KEYS``.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise ReportError(f"{run_dir}: has a metrics.csv but no config.yaml")
    try:
        config = OmegaConf.load(config_path)
    except yaml.YAMLError as err:
        raise ReportError(f"{config_path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(config, DictConfig):
        raise ReportError(f"{config_path}: holds a list, not a mapping of config keys")
    config = _flatten(OmegaConf.to_container(config))
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise ReportError(f"{config_path}: missing key(s) {missing}")
    rows = _parse_metrics(run_dir / "metrics.csv")

    pretrain = [r for r in rows if r["phase"] == "pretrain"]
    warmup = [r for r in rows if r["phase"] == "warmup"]
    online = pretrain[-1:] + [r for r in rows if r["phase"] != "pretrain"]
    timeline = {c: {r["env_step"]: r[c] for r in online} for c in VALUE_COLUMNS}
    return Run(
        path=run_dir,
        algo=str(config["algo.name"]),
        seed=int(config["seed"]),
        task=str(config["task.name"]),
        warmup_steps=int(config["train.warmup_steps"]) if config["algo.warmup"] else 0,
        online_steps=int(config["train.online_steps"]),
        updates_from=_updates_from(rows),
        config=config,
        after_pretraining=pretrain[-1]["score"] if pretrain else None,
        after_warmup=warmup[-1]["score"] if warmup else None,
        final=rows[-1]["score"],
        wall_time_s=rows[-1]["wall_time_s"],
        timeline=timeline,
        finished=(run_dir / "summary.json").is_file(),
    )


def find_runs(paths: list[str | os.PathLike]) -> list[Run]:
    """Every run under ``paths`` (run directories, folders above them searched recursively for
    ``metrics.csv``, or ``metrics.csv`` files), each once, sorted by task, algorithm and seed.

    Raises:
        ReportError: a path does not exist or holds no run, or a run cannot be read; two runs
            share task, algorithm and seed (they would count twice in the mean).
    """
    run_dirs: dict[Path, None] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise ReportError(f"{path}: no such file or directory")
        metrics = sorted(path.rglob("metrics.csv")) if path.is_dir() else [path] if path.name == "metrics.csv" else []
        found = [p.parent.resolve() for p in metrics]
        if not found:
            raise ReportError(f"{path}: no runs found (no metrics.csv in it or below it)")
        run_dirs.update(dict.fromkeys(found))
    runs = sorted(map(load_run, run_dirs), key=lambda r: (r.task, r.algo, r.seed))
    swept = swept_settings(runs)
    seen: dict[tuple, Path] = {}
    for run in runs:
        key = (*run.group, *(repr(run.config.get(k)) for k in swept), run.seed)
        if key in seen:
            settings = "".join(f" / {k}={run.config.get(k)}" for k in swept)
            raise ReportError(
                f"two runs of {run.task} / {run.algo}{settings} / seed {run.seed}: {seen[key]} and {run.path}; "
                "pass the directories of one of them only"
            )
        seen[key] = run.path
    return runs


def swept_settings(runs: list[Run]) -> list[str]:
    """The config keys a set of runs sweeps: those taking more than one value among the runs of
    one task and algorithm (what an algorithm sets itself is not a sweep), beyond
    ``NOT_SETTINGS`` (the seed, where and how a run ran); sorted."""
    by_algo: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        by_algo.setdefault(run.group, []).append(run)
    swept = set()
    for members in by_algo.values():
        keys = set().union(*(r.config for r in members)) - set(NOT_SETTINGS)
        swept |= {k for k in keys if len({repr(r.config.get(k)) for r in members}) > 1}
    return sorted(swept)


def group_runs(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs by algorithm and by every setting the runs sweep (:func:`swept_settings`), in order
    of first appearance: the seeds of one experiment form a group. Labelled ``algo`` (``task/algo``
    when the runs span several tasks), followed by ``key=value`` for each swept setting, e.g.
    ``wsrl critic.head=shared`` for a hydra sweep ``-m seed=0,1 critic.head=per_critic,shared``."""
    several_tasks = len({r.task for r in runs}) > 1
    swept = swept_settings(runs)
    groups: dict[str, list[Run]] = {}
    for run in runs:
        label = f"{run.task}/{run.algo}" if several_tasks else run.algo
        label += "".join(f" {k}={run.config.get(k)}" for k in swept)
        groups.setdefault(label, []).append(run)
    return groups


def mean_se(values: list[float | None]) -> tuple[float, float, int]:
    """Mean, standard error ``std(ddof=1) / sqrt(n)`` and ``n`` of the values that are not
    ``None`` / NaN; the s.e. is NaN for ``n < 2``, and ``(nan, nan, 0)`` for no values."""
    x = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, 0
    se = x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else math.nan
    return float(x.mean()), float(se), int(x.size)


def bootstrap_ci(values: list[float | None], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean over seeds of the values that are
    not ``None`` / NaN (``scipy.stats.bootstrap``): the interval estimate over few runs that
    rliable recommends (Agarwal et al., NeurIPS 2021). ``(nan, nan)`` for fewer than 2 values;
    ``(x, x)`` when all are equal. Seeded: the same values give the same interval."""
    x = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    result = scipy.stats.bootstrap(
        (x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def aggregate_ci(runs: list[Run], column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(env_steps, mean, ci_low, ci_high)`` of ``column`` over ``runs``, each ``[T]``, at every
    env step where at least one run measured it (:func:`bootstrap_ci`, NaN where one run did)."""
    steps, mean, _ = aggregate(runs, column)
    cis = [bootstrap_ci([r.timeline[column].get(s) for r in runs]) for s in steps]
    return steps, mean, np.array([lo for lo, _ in cis]), np.array([hi for _, hi in cis])


def dip_table(groups: dict[str, list[Run]], fraction: float = DIP_FRACTION) -> str:
    """Markdown table of the dip (:meth:`Run.dip`) per algorithm, next to the score it falls
    from (the last evaluation before the first online update, :attr:`Run.updates_from`) and the
    final score: ``mean [95% bootstrap CI]`` over seeds; an interval from fewer than
    ``MIN_SEEDS`` seeds is marked ``†`` and a note says so under the table."""
    few = []

    def cell(values):
        mean, _, n = mean_se(values)
        if n == 0:
            return "n/a"
        lo, hi = bootstrap_ci(values)
        if math.isnan(lo):
            return f"{mean:.1f}"
        few.append(n < MIN_SEEDS)
        return f"{mean:.1f} [{lo:.1f}, {hi:.1f}]" + ("†" if n < MIN_SEEDS else "")

    header = ["algorithm", "n", "score before the first update", f"dip: min over the first {fraction:.0%} of the online updates", "final"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, runs in groups.items():
        start = [r.score_at(r.updates_from) for r in runs]
        cells = [label, _n_cell(runs), cell(start), cell([r.dip(fraction) for r in runs]), cell([r.final for r in runs])]
        lines.append("| " + " | ".join(cells) + " |")
    if any(few):
        lines += ["", f"† a 95% bootstrap interval over fewer than {MIN_SEEDS} seeds: it says little."]
    return "\n".join(lines) + "\n"


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle 50% of ``values`` (25% trimmed from each end,
    ``scipy.stats.trim_mean``), rliable's robust aggregate (Agarwal et al., NeurIPS 2021)."""
    return float(scipy.stats.trim_mean(np.asarray(values, dtype=float), 0.25))


def stratified_bootstrap_ci(
    scores_by_task: list[np.ndarray], statistic, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ``statistic(pooled scores)`` under the stratified bootstrap of
    Agarwal et al. (2021): each resample redraws the runs of every task among that task's runs
    (with replacement), then pools them. ``scores_by_task``: one array ``[runs]`` per task.
    ``(nan, nan)`` for fewer than 2 runs in every task. Seeded."""
    strata = [np.asarray(x, dtype=float) for x in scores_by_task if len(x)]
    if not strata or max(x.size for x in strata) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.array([
        statistic(np.concatenate([x[rng.integers(x.size, size=x.size)] for x in strata])) for _ in range(n_resamples)
    ])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def _final_by_task(runs: list[Run]) -> list[np.ndarray]:
    tasks = sorted({r.task for r in runs})
    return [np.array([r.final for r in runs if r.task == t and r.final is not None and not math.isnan(r.final)]) for t in tasks]


def iqm_table(groups: dict[str, list[Run]]) -> str:
    """Markdown table of each group's final score: the interquartile mean over its runs (all
    tasks pooled) with its 95% stratified bootstrap interval, beside the mean. An interval
    from fewer than ``MIN_SEEDS`` runs per task is marked ``†``."""
    lines = ["| group | n | final IQM [95% stratified bootstrap CI] | final mean |", "|---|---|---|---|"]
    few = False
    for label, runs in groups.items():
        by_task = _final_by_task(runs)
        pooled = np.concatenate(by_task)
        if pooled.size == 0:
            lines.append(f"| {label} | 0 | n/a | n/a |")
            continue
        lo, hi = stratified_bootstrap_ci(by_task, iqm)
        mark = "†" if min(x.size for x in by_task) < MIN_SEEDS else ""
        few = few or bool(mark)
        interval = "" if math.isnan(lo) else f" [{lo:.1f}, {hi:.1f}]"
        lines.append(f"| {label} | {_n_cell(runs)} | {iqm(pooled):.1f}{interval}{mark} | {pooled.mean():.1f} |")
    if few:
        lines += ["", f"† from fewer than {MIN_SEEDS} runs per task: the interval says little."]
    return "\n".join(lines) + "\n"


def performance_profile(final_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The fraction of runs whose final score exceeds each threshold ``[T]`` (rliable's
    score distribution, Agarwal et al. 2021, Sec. 4.1)."""
    return (np.asarray(final_scores, dtype=float)[:, None] > np.asarray(thresholds)[None, :]).mean(0)


def plot_performance_profiles(groups: dict[str, list[Run]], path: Path, *, title: str) -> Path:
    """``performance_profile.png``: per group, the fraction of runs above each normalized
    score, with its 95% stratified bootstrap band."""
    finals = {label: _final_by_task(runs) for label, runs in groups.items()}
    values = np.concatenate([np.concatenate(v) for v in finals.values()] or [np.zeros(0)])
    if values.size == 0:
        values = np.zeros(1)
    thresholds = np.linspace(values.min() - 1, values.max() + 1, 101)
    colors = _colors(groups)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, by_task in finals.items():
        pooled = np.concatenate(by_task)
        if pooled.size == 0:
            continue
        ax.plot(thresholds, performance_profile(pooled, thresholds), color=colors[label], label=f"{label} (n={pooled.size})")
        if pooled.size > 1:
            bands = [stratified_bootstrap_ci(by_task, lambda x, t=t: float((x > t).mean()), n_resamples=500) for t in thresholds]
            ax.fill_between(thresholds, [b[0] for b in bands], [b[1] for b in bands], color=colors[label], alpha=0.2)
    ax.set_xlabel("normalized score at the end (tau)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_title(f"performance profile: {title}")
    return _save(fig, ax, path)


def _save(fig, ax, path: Path) -> Path:
    """Legend, grid, tight layout, written to ``path`` and closed."""
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def aggregate(runs: list[Run], column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(env_steps, mean, se)`` of ``column`` over ``runs``, at every env step where at least
    one run measured it, each ``[T]`` (s.e. NaN where only one run did)."""
    steps = sorted({s for r in runs for s, v in r.timeline[column].items() if not math.isnan(v)})
    stats = [mean_se([r.timeline[column].get(s) for r in runs]) for s in steps]
    return np.array(steps, dtype=int), np.array([m for m, _, _ in stats]), np.array([e for _, e, _ in stats])


def _n_cell(runs: list[Run]) -> str:
    """The runs of a row, with how many have not finished (their "final": the last evaluation)."""
    unfinished = sum(not r.finished for r in runs)
    return f"{len(runs)} ({unfinished} unfinished)" if unfinished else str(len(runs))


def _unfinished_note(runs: list[Run], out: Path) -> str:
    """A paragraph naming the runs without ``summary.json``, or ``""``."""
    unfinished = [r for r in runs if not r.finished]
    if not unfinished:
        return ""
    listed = "".join(
        f"- {os.path.relpath(r.path, out.resolve())}: last evaluation at {r.last_env_step:,} of {r.online_steps:,} env steps\n"
        for r in unfinished
    )
    return (
        f"**{len(unfinished)} of {len(runs)} runs {'has' if len(unfinished) == 1 else 'have'} not finished** (no summary.json: killed, diverged "
        "or still running). Their \"final\" is their last evaluation, and they count at an env "
        "step only once they have reached it:\n" + listed + "\n"
    )


def _cell(values: list[float | None], n_runs: int) -> str:
    mean, se, n = mean_se(values)
    if n == 0:
        return "n/a"
    text = f"{mean:.1f}" if n == 1 else f"{mean:.1f} ± {se:.1f}"
    return text if n == n_runs else f"{text} (n={n})"


def score_table(groups: dict[str, list[Run]], steps: list[int] = ()) -> str:
    """Markdown table of normalized scores, one row per algorithm: after pre-training, after
    the warmup, at each of ``steps`` (online env steps; each run's last evaluation at or before
    it), at the end, and the wall time to the last evaluation (minutes). Cells are
    ``mean ± s.e.`` over seeds; ``(n=k)`` flags a cell with fewer runs than the row's ``n``."""
    header = ["algorithm", "n", "after pre-training", "after warmup", *(f"env step {s}" for s in steps), "final", "wall time (min)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, runs in groups.items():
        n = len(runs)
        cells = [
            label,
            _n_cell(runs),
            _cell([r.after_pretraining for r in runs], n),
            _cell([r.after_warmup for r in runs], n),
            *(_cell([r.score_at(s) for r in runs], n) for s in steps),
            _cell([r.final for r in runs], n),
            _cell([r.wall_time_s / 60 for r in runs], n),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# Curves: {group label: {column: (env_steps [T], mean [T], ci_low [T], ci_high [T])}} from
# :func:`aggregate_ci`;
# warmups: {group label: warmup env steps, 0 for none}.
Curves = dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]


def _colors(labels) -> dict[str, str]:
    return {label: f"C{i % 10}" for i, label in enumerate(labels)}


def _band(ax, curve, color: str, label: str | None, linestyle: str = "-", marker: str = "o") -> None:
    """Mean line with its 95% bootstrap band (no band where a single run measured the point)."""
    steps, mean, low, high = curve
    if steps.size == 0:
        return
    ax.plot(steps, mean, linestyle=linestyle, marker=marker, markersize=3, color=color, label=label)
    ax.fill_between(steps, np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high), color=color, alpha=0.2, linewidth=0)


def plot_scores(curves: Curves, warmups: dict[str, int], path: Path, *, title: str) -> Path:
    """Normalized score against online env steps, one line per group (mean and 95% bootstrap CI
    over seeds);
    a dotted vertical line in the group's colour where its warmup ends."""
    colors = _colors(curves)
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, columns in curves.items():
        _band(ax, columns["score"], colors[label], label)
        if warmups[label]:
            ax.axvline(warmups[label], color=colors[label], linestyle=":", linewidth=1.5)
    ax.set(title=f"{title}: online fine-tuning (dotted: end of warmup)", xlabel="online env steps (0 = end of pre-training)", ylabel="normalized score (mean, 95% bootstrap CI over seeds)")
    return _save(fig, ax, path)


def plot_q_diagnostics(curves: Curves, warmups: dict[str, int], path: Path, *, title: str) -> Path:
    """One column per group. Top: mean predicted Q (mean over critics) on the evaluation
    episodes against their MC return. Bottom: mean Q on online-buffer transitions against
    offline-data transitions. Both in scaled-reward units, mean and 95% bootstrap CI over
    seeds, warmup shaded."""
    colors = _colors(curves)
    fig, axes = plt.subplots(2, len(curves), figsize=(4.5 * len(curves), 7), sharex="col", sharey="row", squeeze=False)
    for (label, columns), (ax_eval, ax_data) in zip(curves.items(), axes.T):
        color = colors[label]
        _band(ax_eval, columns["q_pred"], color, "predicted Q")
        _band(ax_eval, columns["q_mc_return"], "black", "MC return", linestyle="--", marker="s")
        _band(ax_data, columns["q_online"], color, "Q on online data")
        _band(ax_data, columns["q_offline"], "gray", "Q on offline data", linestyle="--", marker="s")
        for ax in (ax_eval, ax_data):
            if warmups[label]:
                ax.axvspan(0, warmups[label], color="tab:orange", alpha=0.15, label="warmup")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        ax_eval.set_title(label)
        ax_data.set_xlabel("online env steps (0 = end of pre-training)")
    axes[0, 0].set_ylabel("evaluation episodes: Q vs MC return")
    axes[1, 0].set_ylabel("replay data: mean Q")
    fig.suptitle(f"{title}: Q diagnostics (mean, 95% bootstrap CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(paths: list[str | os.PathLike], out: str | os.PathLike | None = None, *, steps: list[int] = (), overwrite: bool = False) -> dict[str, Path]:
    """Find the runs under ``paths``, then write ``REPORT_FILES`` into ``out`` (default: the
    common folder of ``paths``). Returns ``{file name: path}``.

    Raises:
        ReportError: see :func:`find_runs`. FileExistsError: a report file exists in ``out``
            and ``overwrite`` is False (nothing is written then).
    """
    runs = find_runs(paths)
    if out is None:
        folders = [p if p.is_dir() else p.parent for p in (Path(p).resolve() for p in paths)]
        out = os.path.commonpath(folders)
    out = Path(out)
    targets = {name: out / name for name in REPORT_FILES}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"report files exist already: {existing}; pass --overwrite to replace them")
    groups = group_runs(runs)
    tasks = sorted({r.task for r in runs})
    out.mkdir(parents=True, exist_ok=True)
    targets["scores.md"].write_text(
        f"# Normalized score (0-100) on {', '.join(tasks)}\n\n"
        f"{len(runs)} runs. Cells: mean ± standard error over seeds. \"env step N\": each run's last "
        "evaluation at or before N online env steps (warmup included; env step 0 is the end of "
        "pre-training). Final: each run's last evaluation. Wall time: from the start of the run to "
        "its last evaluation.\n\n"
        + _unfinished_note(runs, out)
        + score_table(groups, steps)
        + "\nThe final score, robustly (the interquartile mean over runs, tasks stratified; Agarwal et al. 2021):\n\n"
        + iqm_table(groups)
        + "\nThe dip after the first updates (cells: mean [95% bootstrap CI] over seeds):\n\n"
        + dip_table(groups)
        + "\nRuns (relative to this file):\n" + "".join(f"- {os.path.relpath(r.path, out.resolve())}\n" for r in runs)
    )
    curves = {
        label: {column: aggregate_ci(members, column) for column in VALUE_COLUMNS[1:]}
        for label, members in groups.items()
    }
    warmups = {label: max(r.warmup_steps for r in members) for label, members in groups.items()}
    plot_scores(curves, warmups, targets["score_curves.png"], title=", ".join(tasks))
    plot_q_diagnostics(curves, warmups, targets["q_diagnostics.png"], title=", ".join(tasks))
    plot_performance_profiles(groups, targets["performance_profile.png"], title=", ".join(tasks))
    return targets
