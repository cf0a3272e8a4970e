"""Checks of the resolved run config before any work is done (:func:`validate_config`).

A run that starts with a bad setting fails late: a pre-training of hours followed by a
``ZeroDivisionError`` at the first evaluation, or an online phase that never takes a gradient
step. :func:`validate_config` reads the composed hydra config (``conf/config.yaml`` plus the
task, algo and profile groups and the command-line overrides) and reports every problem at
once, one per line, each as ``key=value: what was expected``.
"""
from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

__all__ = ["ConfigError", "validate_config"]

_ABSENT = object()  # a key that is not in the config (or is ``???``)

POSITIVE_INTS = (
    "train.batch_size",
    "train.online_batch_size",
    "train.utd_ratio",
    "train.eval_every",
    "train.pretrain_eval_every",
    "train.eval_episodes",
    "train.diagnostic_batch_size",
    "train.buffer_capacity",
    "agent.num_critics",
    "agent.subsample_size",
    "task.cql.num_actions",
    "agent.num_target_actions",
)
NON_NEGATIVE_INTS = (
    "train.pretrain_steps",
    "train.bc_steps",
    "train.online_steps",
    "train.warmup_steps",
    "seed",
)
BOOLEANS = (
    "algo.pretrain",
    "algo.init_critic",
    "algo.warmup",
    "agent.subsample_replace",
    "agent.backup_entropy",
    "update_step.compile",
    "update_step.cudagraphs",
)
# key -> (low, high, low_open, high_open)
RANGES = {
    "agent.gamma": (0.0, 1.0, True, True),
    "agent.tau": (0.0, 1.0, True, False),
    "agent.pretrain_tau": (0.0, 1.0, True, False),
    "algo.offline_ratio": (0.0, 1.0, False, True),
    "train.lr_actor": (0.0, math.inf, True, True),
    "train.lr_critic": (0.0, math.inf, True, True),
    "train.online_lr_critic": (0.0, math.inf, True, True),
    "train.online_lr_actor": (0.0, math.inf, True, True),
    "train.lr_alpha": (0.0, math.inf, True, True),
    "train.lr_cql_alpha": (0.0, math.inf, True, True),
    "task.cql.temperature": (0.0, math.inf, True, True),
    "task.cql.alpha_init": (0.0, math.inf, True, True),
    "agent.alpha_init": (0.0, math.inf, True, True),
    "task.cql.alpha": (0.0, math.inf, False, True),
    "train.q_bound_factor": (0.0, math.inf, True, True),  # the divergence stop's |Q| bound
}
CHOICES = {
    "algo.warmup_policy": ("pretrained", "random"),
    "algo.online_loss": ("wsrl", "calql"),
    "agent.actor_q_reduction": ("min", "mean"),  # torchrl_wsrl.objectives.wsrl.Q_REDUCTIONS
    "critic.backend": ("eager", "triton"),  # torchrl_wsrl.modules.critic.BACKENDS
    "critic.head": ("per_critic", "shared"),  # torchrl_wsrl.modules.critic.HEADS
    "critic.precision": ("fp32", "tf32", "bf16"),  # torchrl_wsrl.update.PRECISIONS
    "train.eval_policy": ("deterministic", "sampling"),
}
OPTIONAL_CHOICES = {"critic.head"}  # absent from configs written before the option: its default
LOGGERS = {"csv": None, "tensorboard": "tensorboard", "wandb": "wandb"}  # logger -> module it needs
DEVICE_TYPES = ("cpu", "cuda", "mps")

# Task keys the profiles override, ignored when guessing which abstract task group was chosen.
_PROFILE_TASK_KEYS = {"cql.num_actions"}
NETWORK_KEYS = ("critic_hidden", "actor_hidden")  # of each domain's entry in a network option
_TASK_CONF = Path(__file__).resolve().parent / "conf" / "task"


class ConfigError(ValueError):
    """The run config is invalid; ``problems`` lists every failure (``str()``: one per line)."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"invalid run config ({n} problem{'s' * (n != 1)}):\n" + "\n".join(self.problems))

    def __reduce__(self):  # pickles whole across processes (compare's worker pool)
        return type(self), (self.problems,)


def _fmt(value: Any) -> str:
    """A value as it is written in a config or an override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (DictConfig, ListConfig)):
        return str(OmegaConf.to_container(value, resolve=False))
    return str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # ImportError, or a broken install failing at import time
        return False
    return True


class _Checks:
    """Reads keys of ``cfg`` and collects problems. Each typed getter reports a bad value once
    (results are memoised per key) and returns ``None`` for it, so dependent checks skip keys
    that are already reported."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.problems: list[str] = []
        self.reported: set[str] = set()
        self._memo: dict[str, Any] = {}

    def problem(self, key: str, value: Any, expected: str) -> None:
        self.problems.append(f"{key}={_fmt(value)}: {expected}")
        self.reported.add(key)

    def raw(self, key: str, *, required: bool = True) -> Any:
        """The resolved value at ``key``; ``_ABSENT`` if missing (a problem if ``required``) or
        if it does not resolve (always a problem)."""
        try:
            value = OmegaConf.select(self.cfg, key, default=_ABSENT)
        except Exception as e:  # interpolation errors, a key below a non-container, ...
            self.problems.append(f"{key}: does not resolve ({type(e).__name__}: {str(e).splitlines()[0]})")
            self.reported.add(key)
            return _ABSENT
        if value is _ABSENT and required:
            self.problems.append(f"{key}: missing from the config")
            self.reported.add(key)
        return value

    def _typed(self, key: str, parse: Callable[[Any], Any], *, required: bool = True) -> Any:
        if key not in self._memo:
            value = self.raw(key, required=required)
            self._memo[key] = None if value is _ABSENT else parse(value)
        return self._memo[key]

    def integer(self, key: str, minimum: int, *, nullable: bool = False, required: bool = True) -> int | None:
        def parse(value):
            if value is None and nullable:
                return None
            if not _is_int(value) or value < minimum:
                what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
                self.problem(key, value, f"must be {'null or ' if nullable else ''}{what}")
                return None
            return value

        return self._typed(key, parse, required=required)

    def number(self, key: str, low: float, high: float, low_open: bool, high_open: bool) -> float | None:
        def parse(value):
            inside = _is_number(value) and math.isfinite(value) and (
                (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
            )
            if not inside:
                if high == math.inf:
                    what = f"a finite number {'>' if low_open else '>='} {low:g}"
                else:
                    what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
                self.problem(key, value, f"must be {what}")
                return None
            return float(value)

        return self._typed(key, parse)

    def boolean(self, key: str) -> bool | None:
        def parse(value):
            if not isinstance(value, bool):
                self.problem(key, value, "must be true or false")
                return None
            return value

        return self._typed(key, parse)

    def choice(self, key: str, choices: Iterable[str], *, required: bool = True) -> str | None:
        choices = tuple(choices)

        def parse(value):
            if value is None and not required:
                return None
            if value not in choices:
                self.problem(key, value, f"must be one of {', '.join(choices)}")
                return None
            return value

        return self._typed(key, parse, required=required)

    def path(self, key: str) -> str | None:
        """An optional path: null or a string."""

        def parse(value):
            if value is not None and not isinstance(value, str):
                self.problem(key, value, "must be null or a path")
            return value if isinstance(value, str) else None

        return self._typed(key, parse)

    def check_resolves(self) -> None:
        """Report an interpolation anywhere else in the config (outside ``hydra``) that fails."""
        try:
            body = OmegaConf.masked_copy(self.cfg, [k for k in self.cfg if k != "hydra"])
            OmegaConf.to_container(body, resolve=True)
        except Exception as e:
            key = getattr(e, "full_key", None) or "config"
            if key not in self.reported:
                self.problems.append(f"{key}: does not resolve ({type(e).__name__}: {str(e).splitlines()[0]})")


# -- the checks ---------------------------------------------------------------------------------
def _hydra_choice(cfg: DictConfig, group: str) -> str | None:
    """The option of ``group`` the run chose, as hydra recorded it (in ``cfg.hydra`` or in the
    running app's HydraConfig); ``None`` where neither holds it (a config composed without)."""
    choice = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}", default=None, throw_on_resolution_failure=False)
    if choice is None:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            choice = HydraConfig.get().runtime.choices.get(group)
    return None if choice is None else str(choice)


def _task_group(cfg: DictConfig) -> str | None:
    """The task group the run chose: hydra's record of it if there is one, else the abstract
    ``_domain`` group whose every setting (but those the profiles override) ``cfg.task`` has."""
    choice = _hydra_choice(cfg, "task")
    if choice is not None:
        return choice

    def leaves(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            elif f"{prefix}{k}" not in _PROFILE_TASK_KEYS:
                yield f"{prefix}{k}", v

    try:
        task = dict(leaves(OmegaConf.to_container(cfg.task, resolve=True)))
        groups = {p.stem: dict(leaves(OmegaConf.to_container(OmegaConf.load(p)))) for p in sorted(_TASK_CONF.glob("_*.yaml"))}
    except Exception:
        return None
    matches = [name for name, group in groups.items() if group == task]
    return matches[0] if len(matches) == 1 else None


def _check_task(c: _Checks) -> None:
    from torchrl_wsrl.envs.registry import list_tasks

    known = list_tasks()
    name = c.raw("task.name", required=False)
    if name is _ABSENT or name is None:
        group = _task_group(c.cfg)
        chosen = f"task={group}" if group else "the chosen task group"
        c.problem(
            "task.name", None,
            f"{chosen} names no task (an abstract domain group such as task=_locomotion has no "
            f"name); choose a registered task: {', '.join(known)}",
        )
    elif name not in known:
        close = difflib.get_close_matches(str(name), known, n=5, cutoff=0.5)
        hint = f"closest: {', '.join(close)}" if close else f"registered tasks: {', '.join(known)}"
        c.problem("task.name", name, f"not a registered task; {hint}")


def _check_network(c: _Checks) -> None:
    """``network.<domain>`` of a registered task: the chosen network option has an entry for the
    task's domain, its ``critic_hidden`` and ``actor_hidden`` non-empty lists of positive
    integers (hidden layer widths)."""
    from torchrl_wsrl.envs.registry import get_task, list_tasks

    name = c.raw("task.name", required=False)
    if name not in list_tasks():  # _check_task reports it
        return
    domain = get_task(name).domain
    if c.raw("network") is _ABSENT:  # reported: "network: missing from the config"
        return
    if c.raw(f"network.{domain}", required=False) is _ABSENT:
        option = _hydra_choice(c.cfg, "network")
        chosen = f"network={option}" if option else "the network option"
        c.problems.append(
            f"network.{domain}: missing: {chosen} has no entry for the domain {domain!r} of task={name} "
            f"(conf/network/*.yaml: one entry per domain, with {' and '.join(NETWORK_KEYS)})"
        )
        c.reported.add(f"network.{domain}")
        return
    for key in NETWORK_KEYS:
        widths = c.raw(f"network.{domain}.{key}")
        if widths is not _ABSENT and not (
            isinstance(widths, ListConfig) and len(widths) and all(_is_int(w) and w > 0 for w in widths)
        ):
            c.problem(f"network.{domain}.{key}", widths, "must be a non-empty list of positive integers (hidden layer widths)")


def _check_types(c: _Checks) -> None:
    for key in POSITIVE_INTS:
        c.integer(key, 1)
    for key in NON_NEGATIVE_INTS:
        c.integer(key, 0)
    c.integer("threads", 1, nullable=True)
    for key in BOOLEANS:
        c.boolean(key)
    for key, bounds in RANGES.items():
        c.number(key, *bounds)
    for key, choices in CHOICES.items():
        if key in OPTIONAL_CHOICES and c.raw(key, required=False) is _ABSENT:
            continue
        c.choice(key, choices)
    stop = c.raw("train.stop_score")
    if stop is not None and stop is not _ABSENT and not (_is_number(stop) and math.isfinite(stop)):
        c.problem("train.stop_score", stop, "must be null or a finite number (a normalized score)")


def _check_batches(c: _Checks) -> None:
    batch, utd = c.integer("train.online_batch_size", 1), c.integer("train.utd_ratio", 1)
    if batch is not None and utd is not None and batch % utd:
        c.problem(
            "train.utd_ratio", utd,
            f"must divide train.online_batch_size={batch} (each online update splits it into utd_ratio minibatches)",
        )
    bc, pretrain = c.integer("train.bc_steps", 0), c.integer("train.pretrain_steps", 0)
    if c.boolean("algo.pretrain") and bc is not None and pretrain is not None and bc > pretrain:
        c.problem("train.bc_steps", bc, f"must be <= train.pretrain_steps={pretrain} (BC warm start of the pre-training)")
    num, replace = c.integer("agent.num_critics", 1), c.boolean("agent.subsample_replace")
    for key in ("agent.subsample_size", "agent.cql_subsample_size"):
        sub = c.integer(key, 1, nullable=key == "agent.cql_subsample_size", required=key == "agent.subsample_size")
        if num is not None and sub is not None and replace is False and sub > num:
            c.problem(key, sub, f"must be <= agent.num_critics={num} when agent.subsample_replace=false (drawn without replacement)")


def _check_phases(c: _Checks) -> None:
    pretrain, warmup = c.boolean("algo.pretrain"), c.boolean("algo.warmup")
    checkpoint = c.path("pretrained_checkpoint")
    pretrain_steps = c.integer("train.pretrain_steps", 0)
    if pretrain and checkpoint is None and pretrain_steps == 0:
        c.problem(
            "train.pretrain_steps", 0,
            "must be > 0 when algo.pretrain=true and no pretrained_checkpoint is given (nothing to fine-tune from)",
        )

    online_steps, warmup_steps = c.integer("train.online_steps", 0), c.integer("train.warmup_steps", 0)
    batch, ratio = c.integer("train.online_batch_size", 1), c.number("algo.offline_ratio", *RANGES["algo.offline_ratio"])
    if not online_steps or warmup is None or warmup_steps is None:
        return
    if warmup and online_steps <= warmup_steps:
        c.problem(
            "train.online_steps", online_steps,
            f"must exceed train.warmup_steps={warmup_steps} when algo.warmup=true (online_steps counts the "
            "warmup): no update would ever run",
        )
    elif batch is not None and ratio is not None:
        # Trainer.update_start: the warmup, and at least the online share of one batch.
        share = math.ceil(batch * (1 - ratio))
        start = max(warmup_steps if warmup else 0, share)
        if online_steps <= start:
            c.problem(
                "train.online_steps", online_steps,
                f"must exceed {start}, the online transitions the buffer needs before the first update "
                f"(ceil(train.online_batch_size={batch} * (1 - algo.offline_ratio={ratio:g}))): no update would ever run",
            )


def _check_inputs(c: _Checks) -> None:
    pretrain, ratio = c.boolean("algo.pretrain"), c.number("algo.offline_ratio", *RANGES["algo.offline_ratio"])
    checkpoint, dataset = c.path("pretrained_checkpoint"), c.path("dataset_path")
    algo = c.raw("algo.name", required=False)
    algo = "this algo" if algo is _ABSENT else f"algo={algo}"
    if checkpoint is not None:
        if pretrain is False:
            c.problem(
                "pretrained_checkpoint", checkpoint,
                f"{algo} does not pre-train (algo.pretrain=false): the checkpoint would be silently ignored",
            )
        if not Path(checkpoint).is_file():
            c.problem("pretrained_checkpoint", checkpoint, "no such file")
    if dataset is not None:
        if pretrain is not None and ratio is not None:
            needs_data = (pretrain and checkpoint is None) or ratio > 0  # as Trainer.run
            if not needs_data:
                why = "a pretrained_checkpoint is given" if pretrain else "algo.pretrain=false"
                c.problem(
                    "dataset_path", dataset,
                    f"{algo} loads no offline data ({why}, algo.offline_ratio={ratio:g}): it would be silently ignored",
                )
        path = Path(dataset)
        if not (path.is_file() or (path / "data").is_dir()):
            c.problem("dataset_path", dataset, "no D4RL-format .hdf5 file and no Minari dataset folder (one holding data/) there")


def _check_device(c: _Checks) -> None:
    value = c.raw("device")
    device = None
    if value is not _ABSENT:
        try:
            if not isinstance(value, str):
                raise TypeError
            device = torch.device(value)
        except (RuntimeError, TypeError, ValueError):
            c.problem("device", value, f"not a torch device string ({', '.join(DEVICE_TYPES)} or cuda:N)")
    if device is not None:
        if device.type not in DEVICE_TYPES:
            c.problem("device", value, f"unsupported device type; expected {', '.join(DEVICE_TYPES)} or cuda:N")
        elif device.type == "cuda" and not torch.cuda.is_available():
            c.problem("device", value, "CUDA is not available on this machine (torch.cuda.is_available() is false)")
        elif device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            c.problem("device", value, f"this machine has {torch.cuda.device_count()} CUDA device(s)")
        elif device.type == "mps" and not torch.backends.mps.is_available():
            c.problem("device", value, "MPS is not available on this machine (torch.backends.mps.is_available() is false)")
    if c.boolean("update_step.cudagraphs") and (device is None or device.type != "cuda"):
        c.problem("update_step.cudagraphs", True, f"needs a CUDA device, got device={_fmt(value if value is not _ABSENT else None)}")
    if c.choice("critic.backend", CHOICES["critic.backend"]) == "triton" and not _importable("triton"):
        c.problem("critic.backend", "triton", "needs Triton, but `import triton` fails")


def _check_run_management(c: _Checks) -> None:
    """Keys of checkpointing, logging and resuming; each is checked only where present."""
    c.integer("checkpoint.pretrain_every", 1, nullable=True, required=False)  # gradient steps
    c.integer("checkpoint.online_every", 1, nullable=True, required=False)  # env steps
    c.integer("checkpoint.keep_last", 1, nullable=True, required=False)
    logger = c.choice("logger", LOGGERS, required=False)
    if logger is not None and LOGGERS[logger] and not _importable(LOGGERS[logger]):
        c.problem("logger", logger, f"needs the {LOGGERS[logger]} package, but `import {LOGGERS[logger]}` fails")
    resume = c.raw("resume", required=False)
    if resume is _ABSENT or resume is None:
        return
    if not isinstance(resume, str):
        c.problem("resume", resume, "must be null or a run directory")
    elif not Path(resume).is_dir():
        c.problem("resume", resume, "no such run directory")
    else:
        missing = [name for name, ok in (("config.yaml", (Path(resume) / "config.yaml").is_file()),
                                         ("checkpoints/", (Path(resume) / "checkpoints").is_dir())) if not ok]
        if missing:
            c.problem("resume", resume, f"not a run directory: it holds no {' and no '.join(missing)}")


CHECKS = (_check_task, _check_network, _check_types, _check_batches, _check_phases, _check_inputs, _check_device, _check_run_management)


def validate_config(cfg: DictConfig) -> None:
    """Check the whole resolved run config before any work is done.

    Checks (each failure is one line ``key=value: what was expected``):

    - ``task.name`` is set (an abstract domain group such as ``task=_locomotion`` sets none) and
      registered in :mod:`torchrl_wsrl.envs.registry`;
    - the ``network`` option has an entry for the task's domain (``network.<domain>``), whose
      ``critic_hidden`` and ``actor_hidden`` are non-empty lists of positive integers;
    - counts are integers (not booleans, floats or strings): the batch sizes, ``utd_ratio``,
      evaluation periods and episodes, buffer capacity, ``agent.num_critics`` /
      ``subsample_size``, ``task.cql.num_actions`` >= 1; the step counts and ``seed`` >= 0;
      ``threads`` null or >= 1; the flags are booleans;
    - ``train.utd_ratio`` divides ``train.online_batch_size``; ``bc_steps <= pretrain_steps``;
      ``agent.subsample_size <= agent.num_critics`` when drawn without replacement;
    - ranges: ``gamma`` in (0, 1), ``tau`` / ``pretrain_tau`` in (0, 1], ``algo.offline_ratio``
      in [0, 1), learning rates and ``alpha_init`` finite and > 0, ``task.cql.alpha`` >= 0,
      ``algo.warmup_policy`` / ``online_loss``, ``agent.actor_q_reduction`` and
      ``critic.backend`` among their choices;
    - phases: pre-training has steps unless ``pretrained_checkpoint`` is given; with online
      steps, ``online_steps`` exceeds the warmup and the online transitions the first update
      needs (``Trainer.update_start``), otherwise no update would run;
    - inputs: ``pretrained_checkpoint`` / ``dataset_path`` exist, and are not given where the
      algo would ignore them (no pre-training; no offline data needed);
    - hardware: ``device`` parses and is available, ``update_step.cudagraphs`` has a CUDA device,
      the Triton backend can import ``triton``;
    - where present: ``checkpoint.pretrain_every`` / ``online_every`` / ``keep_last`` >= 1,
      ``logger`` in csv / tensorboard / wandb with its package importable, ``resume`` an
      existing run directory holding ``config.yaml`` and ``checkpoints/``;
    - missing keys and interpolations that do not resolve anywhere (outside ``hydra``).

    Raises:
        ConfigError: one or more checks failed; the message lists every failure, one per line
            (also in ``.problems``).
    """
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    checks = _Checks(cfg)
    for check in CHECKS:
        check(checks)
    checks.check_resolves()
    if checks.problems:
        raise ConfigError(checks.problems)
