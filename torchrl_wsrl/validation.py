"""Checks of the run config before any work is done (:func:`validate_config`).

A run that starts with a bad setting fails late: a pre-training of hours followed by a
``ZeroDivisionError`` at the first evaluation, or an online phase that never takes a gradient
step. The schema (:mod:`torchrl_wsrl.conf.schema`) says what each key takes (type, bound,
choices); this module checks a config against it and adds the rules that tie several keys
together, written against the run's :class:`~torchrl_wsrl.conf.plan.RunPlan`. Every problem is
reported at once, one line each, ``key=value: what was expected``.
:func:`explain_compose_error` turns what hydra refuses while it composes (an unknown key or
option, a value of the wrong type) into one such line.
"""
from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from torchrl_wsrl.assets import shipped_agent_info, shipped_agent_tasks
from torchrl_wsrl.conf.plan import RunPlan
from torchrl_wsrl.conf.schema import describe_type, field_problems, fmt, schema_fields, type_problems, unknown_domain, unknown_keys
from torchrl_wsrl.domains import DOMAINS

__all__ = ["ConfigError", "validate_config", "explain_compose_error"]

_ABSENT = object()  # a key that is not in the config (or is ``???``)

LOGGER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}  # logger -> module it needs
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


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # ImportError, or a broken install failing at import time
        return False
    return True


class _Checks:
    """Reads keys of ``cfg`` and collects problems, each key reported once: :meth:`get` returns
    ``None`` for a key that is missing, does not resolve, or was reported already, so a rule
    that needs it is skipped."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.problems: list[str] = []
        self.reported: set[str] = set()

    def problem(self, key: str, value: Any, expected: str) -> None:
        self.problems.append(f"{key}={fmt(value)}: {expected}")
        self.reported.add(key)

    def add(self, found: list[tuple[str, str]]) -> None:
        for key, line in found:
            if key not in self.reported:
                self.problems.append(line)
                self.reported.add(key)

    def raw(self, key: str, *, required: bool = True) -> Any:
        """The resolved value at ``key``; ``_ABSENT`` if missing (a problem if ``required``) or
        if it does not resolve (always a problem)."""
        try:
            value = OmegaConf.select(self.cfg, key, default=_ABSENT)
        except Exception as e:  # interpolation errors, a key below a non-container, ...
            if key not in self.reported:
                self.problems.append(f"{key}: does not resolve ({type(e).__name__}: {str(e).splitlines()[0]})")
                self.reported.add(key)
            return _ABSENT
        if value is _ABSENT and required and key not in self.reported:
            self.problems.append(f"{key}: missing from the config")
            self.reported.add(key)
        return value

    def get(self, key: str) -> Any:
        """The value of a schema key for a rule: ``None`` where it cannot be used."""
        if key in self.reported:
            return None
        value = self.raw(key, required=False)
        return None if value is _ABSENT else value

    def check_resolves(self) -> None:
        """Report an interpolation anywhere else in the config (outside ``hydra``) that fails."""
        try:
            body = OmegaConf.masked_copy(self.cfg, [k for k in self.cfg if k != "hydra"])
            OmegaConf.to_container(body, resolve=True)
        except Exception as e:
            key = getattr(e, "full_key", None) or "config"
            if key not in self.reported:
                self.problems.append(f"{key}: does not resolve ({type(e).__name__}: {str(e).splitlines()[0]})")


def _check_schema(c: _Checks) -> None:
    """Every key the schema knows, every key it does not, each value's type and range."""
    c.add(unknown_keys(c.cfg))
    c.add(type_problems(c.cfg))
    for key in schema_fields():
        c.raw(key, required=key != "task.name")  # a missing or unresolvable value, once
    c.add(field_problems(c.cfg, skip=c.reported))


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
    """The chosen network option has an entry for the task's domain (its widths are the
    schema's to check)."""
    from torchrl_wsrl.envs.registry import get_task, list_tasks

    name = c.raw("task.name", required=False)
    if name not in list_tasks() or "network" in c.reported:  # reported already
        return
    domain = get_task(name).domain
    if c.raw(f"network.{domain}", required=False) is _ABSENT:
        option = _hydra_choice(c.cfg, "network")
        chosen = f"network={option}" if option else "the network option"
        c.problems.append(
            f"network.{domain}: missing: {chosen} has no entry for the domain {domain!r} of task={name} "
            f"(a network option has one entry per domain, with {' and '.join(NETWORK_KEYS)})"
        )
        c.reported.add(f"network.{domain}")
        return
    for key in NETWORK_KEYS:
        c.raw(f"network.{domain}.{key}")


def _check_batches(c: _Checks) -> None:
    batch, utd = c.get("train.online_batch_size"), c.get("train.utd_ratio")
    if batch is not None and utd is not None and batch % utd:
        c.problem(
            "train.utd_ratio", utd,
            f"must divide train.online_batch_size={batch} (each online update splits it into utd_ratio minibatches)",
        )
    bc, pretrain = c.get("train.bc_steps"), c.get("train.pretrain_steps")
    if c.get("algo.pretrain") and bc is not None and pretrain is not None and bc > pretrain:
        c.problem("train.bc_steps", bc, f"must be <= train.pretrain_steps={pretrain} (BC warm start of the pre-training)")
    num, replace = c.get("agent.num_critics"), c.get("agent.subsample_replace")
    for key in ("agent.subsample_size", "agent.cql_subsample_size"):
        sub = c.get(key)
        if num is not None and sub is not None and replace is False and sub > num:
            c.problem(key, sub, f"must be <= agent.num_critics={num} when agent.subsample_replace=false (drawn without replacement)")


_PLAN_KEYS = (
    "algo.pretrain", "algo.warmup", "algo.offline_ratio", "algo.online_loss", "pretrained_checkpoint",
    "train.online_steps", "train.warmup_steps", "train.online_batch_size",
)


def _plan(c: _Checks) -> RunPlan | None:
    """The run's plan, or ``None`` if a key it derives from was reported."""
    if any(key in c.reported or c.raw(key, required=False) is _ABSENT for key in _PLAN_KEYS):
        return None
    return RunPlan.of(c.cfg)


def _check_phases(c: _Checks) -> None:
    plan = _plan(c)
    if plan is None:
        return
    if plan.pretrain and c.get("train.pretrain_steps") == 0:
        c.problem(
            "train.pretrain_steps", 0,
            "must be > 0 when algo.pretrain=true and no agent file is given (pretrained_checkpoint, or the shipped agent of pretrained=auto|shipped): nothing to fine-tune from",
        )
    online_steps, warmup_steps = c.get("train.online_steps"), c.get("train.warmup_steps")
    if not plan.online:
        return
    if plan.warmup_steps and online_steps <= warmup_steps:
        c.problem(
            "train.online_steps", online_steps,
            f"must exceed train.warmup_steps={warmup_steps} when algo.warmup=true (online_steps counts the "
            "warmup): no update would ever run",
        )
    elif online_steps <= plan.update_start:
        batch, ratio = c.get("train.online_batch_size"), c.get("algo.offline_ratio")
        c.problem(
            "train.online_steps", online_steps,
            f"must exceed {plan.update_start}, the online transitions the buffer needs before the first update "
            f"(ceil(train.online_batch_size={batch} * (1 - algo.offline_ratio={ratio:g}))): no update would ever run",
        )


def _sizes(network: dict, critics: int | None) -> str:
    """``"10 critics 256x256, actor 256x256"``."""
    critic, actor = ("x".join(map(str, network[key] or ())) or "?" for key in ("critic_hidden", "actor_hidden"))
    return f"{critics} critics {critic}, actor {actor}"


def _check_pretrained(c: _Checks) -> None:
    """``pretrained=shipped`` needs a shipped agent for the task, and a shipped agent the
    run's network sizes (``pretrained_checkpoint``, when given, overrides ``pretrained``)."""
    from torchrl_wsrl.envs.registry import get_task, list_tasks

    source, name = c.get("pretrained"), c.get("task.name")
    if source is None or name not in list_tasks() or c.get("pretrained_checkpoint") is not None:
        return  # pretrained_checkpoint overrides pretrained
    if source == "shipped" and c.get("algo.pretrain") is False:
        algo = c.raw("algo.name", required=False)
        c.problem("pretrained", source, f"algo={algo} does not pre-train (algo.pretrain=false): the shipped agent would be silently ignored")
        return
    if source == "shipped" and name not in shipped_agent_tasks():
        c.problem(
            "pretrained", source,
            f"no trained agent is shipped for task={name} (shipped: {', '.join(shipped_agent_tasks()) or 'none'}); "
            "pretrained=none pre-trains one first",
        )
        return
    plan = _plan(c)
    if plan is None or plan.agent_source != "shipped":
        return
    info, domain = shipped_agent_info(name), get_task(name).domain
    wanted = {"critic_hidden": info["network"]["critic_hidden"], "actor_hidden": info["network"]["actor_hidden"]}
    own = {key: c.get(f"network.{domain}.{key}") for key in wanted}
    own = {key: None if value is None else list(value) for key, value in own.items()}
    critics = c.get("agent.num_critics")
    if own != wanted or (critics is not None and critics != info["network"]["num_critics"]):
        option = _hydra_choice(c.cfg, "network")
        key = "agent.num_critics" if own == wanted else f"network={option}" if option else f"network.{domain}"
        c.problems.append(
            f"{key}: the shipped agent of task={name} (pretrained={source}) has {_sizes(wanted, info['network']['num_critics'])}; "
            f"this run builds {_sizes(own, critics)}: use network=paper agent.num_critics={info['network']['num_critics']}, "
            "or pretrained=none to pre-train at these sizes"
        )
        c.reported.add("network")


def _check_inputs(c: _Checks) -> None:
    checkpoint, dataset = c.get("pretrained_checkpoint"), c.get("dataset_path")
    algo = c.raw("algo.name", required=False)
    algo = "this algo" if algo is _ABSENT else f"algo={algo}"
    if checkpoint is not None:
        if c.get("algo.pretrain") is False:
            c.problem(
                "pretrained_checkpoint", checkpoint,
                f"{algo} does not pre-train (algo.pretrain=false): the checkpoint would be silently ignored",
            )
        if not Path(checkpoint).is_file():
            c.problem("pretrained_checkpoint", checkpoint, "no such file")
    if dataset is not None:
        plan = _plan(c)
        if plan is not None and not plan.needs_offline_data:
            why = {"pretrained_checkpoint": "a pretrained_checkpoint is given", "shipped": "it starts from the shipped agent (pretrained=none pre-trains)"}.get(plan.agent_source, "algo.pretrain=false")
            c.problem(
                "dataset_path", dataset,
                f"{algo} loads no offline data ({why}, algo.offline_ratio={c.get('algo.offline_ratio'):g}): it would be silently ignored",
            )
        path = Path(dataset)
        if not (path.is_file() or (path / "data").is_dir()):
            c.problem("dataset_path", dataset, "no D4RL-format .hdf5 file and no Minari dataset folder (one holding data/) there")


def _check_device(c: _Checks) -> None:
    value = c.get("device")
    device = None
    if value is not None:
        try:
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
    on_cuda = device is not None and device.type == "cuda"
    if c.get("update_step.cudagraphs") and not on_cuda:
        c.problem("update_step.cudagraphs", True, f"needs a CUDA device, got device={fmt(value)}")
    if c.get("critic.backend") == "triton":
        if not _importable("triton"):
            c.problem("critic.backend", "triton", "needs Triton, but `import triton` fails")
        elif not on_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            c.problem("critic.backend", "triton", f"runs its kernels on a CUDA device, got device={fmt(value)} (TRITON_INTERPRET=1 runs them on the CPU: correctness only, slow)")
    if c.get("critic.precision") == "tf32" and not on_cuda:
        c.problem("critic.precision", "tf32", f"is a mode of CUDA float32 matmuls: on device={fmt(value)} it would change nothing (fp32, or bf16)")


def _check_run_management(c: _Checks) -> None:
    """The logger's package imports; ``resume`` is a run directory that has not finished."""
    logger = c.get("logger")
    if logger in LOGGER_PACKAGES and not _importable(LOGGER_PACKAGES[logger]):
        c.problem("logger", logger, f"needs the {LOGGER_PACKAGES[logger]} package, but `import {LOGGER_PACKAGES[logger]}` fails")
    resume = c.get("resume")
    if resume is None:
        return
    if not Path(resume).is_dir():
        c.problem("resume", resume, "no such run directory")
    else:
        missing = [name for name, ok in (("config.yaml", (Path(resume) / "config.yaml").is_file()),
                                         ("checkpoints/", (Path(resume) / "checkpoints").is_dir())) if not ok]
        if missing:
            c.problem("resume", resume, f"not a run directory: it holds no {' and no '.join(missing)}")
        elif (unreadable := _unreadable_run_config(Path(resume) / "config.yaml")) is not None:
            c.problem("resume", resume, unreadable)
        elif (Path(resume) / "summary.json").is_file():  # resuming would rewrite its records
            c.problem("resume", resume, f"the run has finished (summary.json): nothing to resume; to fine-tune its agent further: "
                      f"pretrained_checkpoint={Path(resume) / 'final.pt'}")


def _unreadable_run_config(path: Path) -> str | None:
    """Why a run's ``config.yaml`` cannot be read back as its config (not YAML, or not a mapping
    of config keys), or None. Its keys and values are checked like any config once read."""
    try:
        config = OmegaConf.load(path)
    except yaml.YAMLError as err:
        return f"{path} is not valid YAML ({' '.join(str(err).split())})"
    if not isinstance(config, DictConfig):
        return f"{path} holds a list, not a mapping of config keys"
    if not config:
        return f"{path} is empty"
    return None


CHECKS = (_check_schema, _check_task, _check_network, _check_batches, _check_phases, _check_pretrained, _check_inputs, _check_device, _check_run_management)


def validate_config(cfg: DictConfig) -> None:
    """Check the whole resolved run config before any work is done.

    Checks (each failure is one line ``key=value: what was expected``):

    - the schema (:mod:`torchrl_wsrl.conf.schema`): no key it lacks (with the closest valid
      key), none of its keys missing or unresolvable, each value of its type, bounds (counts
      >= 1 or >= 0, ``gamma`` in (0, 1), learning rates finite and > 0, ...) and choices; the
      network widths non-empty lists of positive integers;
    - ``task.name`` is set (an abstract domain group such as ``task=_locomotion`` sets none) and
      registered in :mod:`torchrl_wsrl.envs.registry`; the ``network`` option has an entry for
      the task's domain;
    - ``train.utd_ratio`` divides ``train.online_batch_size``; ``bc_steps <= pretrain_steps``;
      ``agent.subsample_size`` / ``cql_subsample_size <= agent.num_critics`` when drawn
      without replacement;
    - phases (:class:`~torchrl_wsrl.conf.plan.RunPlan`): pre-training has steps unless it
      starts from an agent file; with online steps, ``online_steps`` exceeds the warmup
      and the online transitions the first update needs (``RunPlan.update_start``);
    - the agent to start from: ``pretrained=shipped`` has a shipped agent for the task, and
      a shipped agent the run's network sizes;
    - inputs: ``pretrained_checkpoint`` / ``dataset_path`` exist, and are not given where the
      algo would ignore them (no pre-training; no offline data needed);
    - hardware: ``device`` parses and is available, ``update_step.cudagraphs`` has a CUDA device,
      the Triton backend can import ``triton``; the logger's package imports; ``resume`` an
      existing run directory holding ``config.yaml`` and ``checkpoints/``;
    - interpolations that do not resolve anywhere (outside ``hydra``).

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


_MISSING_OPTION = re.compile(r"Could not find '([^']+)/([^'/]+)'")
_OVERRIDE = re.compile(r"override '?([\w.\-+~]+)=?([^']*)'?")
_NETWORK_WIDTHS = re.compile(r"network\.\w+\.(critic|actor)_hidden")


def _causes(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def explain_compose_error(error: Exception) -> str:
    """One line for what hydra refused while it composed the run config: an option of a group
    that does not exist (``task=hoper-medium``: the closest options), a key the schema lacks
    (``train.online_step=100``: the closest key), a value its type refuses
    (``train.utd_ratio=abc``: what the key takes), else the first line of hydra's message."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    message = str(error)
    found = _MISSING_OPTION.search(message)
    if isinstance(error, MissingConfigException) and found:
        group, option = found.groups()
        options = [o for o in (error.options or []) if not o.startswith("_")]
        close = difflib.get_close_matches(option, options, n=3, cutoff=0.5)
        hint = f"closest: {', '.join(close)}" if close else f"choose one of {', '.join(options)}"
        return f"{group}={option}: no such {group}; {hint}"
    override = _OVERRIDE.search(message)
    target = override.group(1).lstrip("+~").split(".") if override else []
    if target[:1] == ["network"] and len(target) > 1 and target[1] not in DOMAINS:
        return unknown_domain(target[1])
    for cause in _causes(error):
        key = getattr(cause, "full_key", None) or (override.group(1).lstrip("+~") if override else None)
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and key:
            close = difflib.get_close_matches(key, list(schema_fields()), n=1, cutoff=0.6)
            return f"{key}: not a key of the run config" + (f"; closest: {close[0]}" if close else "")
        if isinstance(cause, ValidationError) and key:
            value = override.group(2) if override else getattr(cause, "value", "")
            field = schema_fields().get(key)
            if field is not None:
                what = f"must be {describe_type(field)}"
            elif _NETWORK_WIDTHS.fullmatch(key):
                what = "must be a non-empty list of positive integers (hidden layer widths)"
            else:
                what = str(cause).splitlines()[0]
            return f"{key}={value}: {what}"
    deepest = list(_causes(error))[-1]
    if override and deepest is not error:
        return f"{override.group(0).removeprefix('override ').strip(chr(39))}: {str(deepest).splitlines()[0]}"
    return message.strip().splitlines()[0]
