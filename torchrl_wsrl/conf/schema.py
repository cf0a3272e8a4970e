"""The run config's schema: one dataclass per section, stored in hydra's ConfigStore as
``base_config``, under which ``config.yaml`` and the groups put their values.

Each field has its type (hydra refuses an unknown key, a ``+key`` that the schema lacks and a
value of the wrong type while it composes) and, in its metadata, the values it takes: a lower
bound for counts, a range for numbers, the choices for names (each list imported from the
module that defines it). :func:`field_problems` checks those, one line per field, the same way
for a composed config and for a run's saved ``config.yaml``. The values themselves live in the
yaml files; the schema gives a default only to keys that configs written before them lack
(``critic.head``, ``checkpoint.*``, ``logger``, ``resume``, ``train.online_lr_actor``, ``pretrained``), the value
such a run had.
"""
import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

import omegaconf
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from torchrl_wsrl.conf.plan import PRETRAINED
from torchrl_wsrl.domains import DOMAINS

from torchrl_wsrl.metrics import LOGGERS
from torchrl_wsrl.modules.critic import BACKENDS, HEADS
from torchrl_wsrl.objectives.ensemble_sac import Q_REDUCTIONS
from torchrl_wsrl.update import PRECISIONS

__all__ = ["RunConfig", "field_problems", "type_problems", "unknown_keys", "describe_type", "unknown_domain", "schema_fields", "fmt", "WARMUP_POLICIES", "ONLINE_LOSSES", "EVAL_POLICIES"]

WARMUP_POLICIES = ("pretrained", "random")  # the trainer's warmup: the pre-trained policy sampling, or uniform
ONLINE_LOSSES = ("wsrl", "calql")  # the online loss: WSRL's ensemble SAC, or the pre-training loss kept
EVAL_POLICIES = ("deterministic", "sampling")  # evaluation.evaluate(deterministic=...)


_ABSENT = object()


def count(minimum: int = 1, default: Any = MISSING) -> Any:
    """An integer field ``>= minimum`` (gradient steps, env steps, batch sizes...)."""
    return field(default=default, metadata={"min": minimum})


def number(low: float = 0.0, high: float = math.inf, *, low_open: bool = True, high_open: bool = True) -> Any:
    """A finite number in the interval from ``low`` to ``high`` (open or closed ends)."""
    return field(default=MISSING, metadata={"range": (low, high, low_open, high_open)})


def choice(options: tuple[str, ...], default: Any = MISSING) -> Any:
    """A name among ``options``."""
    return field(default=default, metadata={"choices": tuple(options)})


@dataclass
class AgentConfig:
    num_critics: int = count()
    subsample_size: int = count()
    subsample_replace: bool = MISSING
    cql_subsample_size: Optional[int] = count()
    backup_entropy: bool = MISSING
    actor_q_reduction: str = choice(Q_REDUCTIONS)
    alpha_init: float = number()
    num_target_actions: int = count()
    gamma: float = number(0.0, 1.0)
    tau: float = number(0.0, 1.0, high_open=False)
    pretrain_tau: float = number(0.0, 1.0, high_open=False)


@dataclass
class TrainConfig:
    pretrain_steps: int = count(0)
    pretrain_eval_every: int = count()
    bc_steps: int = count(0)
    online_steps: int = count(0)
    warmup_steps: int = count(0)
    batch_size: int = count()
    online_batch_size: int = count()
    utd_ratio: int = count()
    eval_every: int = count()
    eval_episodes: int = count()
    eval_policy: str = choice(EVAL_POLICIES)
    stop_score: Optional[float] = field(default=MISSING, metadata={"range": (-math.inf, math.inf, True, True)})
    buffer_capacity: int = count()
    diagnostic_batch_size: int = count()
    lr_actor: float = number()
    lr_critic: float = number()
    online_lr_critic: float = number()
    online_lr_actor: float = field(default="${train.lr_actor}", metadata={"range": (0.0, math.inf, True, True)})
    lr_alpha: float = number()
    lr_cql_alpha: float = number()
    q_bound_factor: float = number()


@dataclass
class CheckpointConfig:
    pretrain_every: Optional[int] = count(default=None)  # gradient steps
    online_every: Optional[int] = count(default=None)  # env steps
    keep_last: Optional[int] = count(default=None)


@dataclass
class UpdateStepConfig:
    compile: bool = MISSING
    compile_mode: Optional[str] = MISSING
    cudagraphs: bool = MISSING


@dataclass
class CriticConfig:
    backend: str = choice(BACKENDS)
    head: str = choice(HEADS, default="per_critic")
    precision: str = choice(PRECISIONS)


@dataclass
class CQLConfig:
    alpha: float = number(low_open=False)
    lagrange: bool = MISSING
    target_gap: float = MISSING
    importance_sample: bool = MISSING
    calibrate: bool = MISSING
    num_actions: int = count()
    temperature: float = number()
    alpha_init: float = number()
    max_target_backup: bool = MISSING


@dataclass
class TaskConfig:
    name: Optional[str] = None  # set by the task=NAME option; an abstract _<domain> group has none
    state_dependent_std: bool = MISSING
    online_max_target_backup: bool = MISSING
    pretrain_steps: int = count(0)
    cql: CQLConfig = field(default_factory=CQLConfig)


@dataclass
class NetworkSizes:
    critic_hidden: list[int] = MISSING
    actor_hidden: list[int] = MISSING


@dataclass
class AlgoConfig:
    name: str = MISSING
    pretrain: bool = MISSING
    init_critic: bool = MISSING
    warmup: bool = MISSING
    warmup_policy: str = choice(WARMUP_POLICIES)
    online_loss: str = choice(ONLINE_LOSSES)
    offline_ratio: float = number(0.0, 1.0, low_open=False)


@dataclass
class RunConfig:
    seed: int = count(0)
    device: str = MISSING
    threads: Optional[int] = count()
    pretrained: str = choice(PRETRAINED, default="none")
    pretrained_checkpoint: Optional[str] = MISSING
    dataset_path: Optional[str] = MISSING
    runs_root: str = MISSING
    resume: Optional[str] = None
    logger: str = choice(LOGGERS, default="csv")
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    update_step: UpdateStepConfig = field(default_factory=UpdateStepConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    network: dict[str, NetworkSizes] = field(default_factory=dict)
    algo: AlgoConfig = field(default_factory=AlgoConfig)


def schema_fields(schema: type = RunConfig, prefix: str = "") -> "dict[str, dataclasses.Field]":
    """Every leaf field of ``schema`` by its dotted key (``"train.utd_ratio"``); the entries of
    ``network`` (a mapping of domains) are not leaves of the schema."""
    leaves = {}
    for f in dataclasses.fields(schema):
        if isinstance(f.type, type) and dataclasses.is_dataclass(f.type):
            leaves.update(schema_fields(f.type, f"{prefix}{f.name}."))
        else:
            leaves[f"{prefix}{f.name}"] = f
    return leaves


def fmt(value: Any) -> str:
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


def _expected(meta: dict) -> str | None:
    """A field's bound, range or choices in words ("a positive integer", "a number in (0, 1)")."""
    if "min" in meta:
        return {0: "a non-negative integer", 1: "a positive integer"}.get(meta["min"], f"an integer >= {meta['min']}")
    if "range" in meta:
        low, high, low_open, high_open = meta["range"]
        if low == -math.inf:
            return "a finite number"
        if high == math.inf:
            return f"a finite number {'>' if low_open else '>='} {low:g}"
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if "choices" in meta:
        return f"one of {', '.join(meta['choices'])}"
    return None


def _breaks(value: Any, meta: dict) -> bool:
    """Whether a (non-null) value breaks a field's bound, range or choices."""
    if "min" in meta:
        return isinstance(value, bool) or not isinstance(value, int) or value < meta["min"]
    if "range" in meta:
        low, high, low_open, high_open = meta["range"]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return not (number and (value > low if low_open else value >= low) and (value < high if high_open else value <= high))
    return "choices" in meta and value not in meta["choices"]


def field_problems(cfg: DictConfig, skip: set[str] = frozenset()) -> list[tuple[str, str]]:
    """``(key, "key=value: what was expected")`` for every leaf of the schema whose value in
    ``cfg`` breaks its metadata (bound, range, choices); keys in ``skip``, missing keys and
    values that do not resolve are left to the caller."""
    problems = []
    for key, f in schema_fields().items():
        if key in skip or not f.metadata:
            continue
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT)
        except Exception:  # an interpolation that does not resolve: reported by the caller
            continue
        if value is _ABSENT or value is None:
            continue
        if _breaks(value, f.metadata):
            problems.append((key, f"{key}={fmt(value)}: must be {describe_type(f)}"))
    return problems


def _leaves(tree: Any, prefix: str = ""):
    """``(dotted key, raw value)`` of every leaf of a plain container (lists are leaves)."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _closest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; closest: {close[0]}" if close else ""


def unknown_keys(cfg: DictConfig) -> list[tuple[str, str]]:
    """``(key, message)`` for every key of ``cfg`` (outside ``hydra``) the schema lacks, with the
    closest valid key: a misspelled ``+key=value`` that hydra appended, or an entry of an old
    run's ``config.yaml`` that no longer exists. Under ``network`` the entries are domains
    (:data:`~torchrl_wsrl.domains.DOMAINS`) holding ``critic_hidden`` and ``actor_hidden``."""
    known = schema_fields()
    tree = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    problems = []
    for key, _ in _leaves({k: v for k, v in tree.items() if k not in ("hydra", "network")}):
        if key not in known:
            problems.append((key, f"{key}: not a key of the run config{_closest(key, known)}"))
    sizes = [f.name for f in dataclasses.fields(NetworkSizes)]
    for domain, entry in (tree.get("network") or {}).items():
        if domain not in DOMAINS:
            problems.append((f"network.{domain}", unknown_domain(domain)))
            continue
        for name in entry if isinstance(entry, dict) else ():
            if name not in sizes:
                key = f"network.{domain}.{name}"
                problems.append((key, f"{key}: not a key of the run config{_closest(name, sizes)}"))
    return problems


def unknown_domain(name: str) -> str:
    """The line for a ``network.<name>`` entry that names no domain."""
    return f"network.{name}: not a domain{_closest(name, DOMAINS)} (domains: {', '.join(DOMAINS)})"


def describe_type(f: dataclasses.Field) -> str:
    """What a field takes, in words ("a positive integer", "true or false", ...)."""
    meta, kind = f.metadata, f.type
    optional = getattr(kind, "__origin__", None) is typing.Union
    if optional:
        kind = next(t for t in kind.__args__ if t is not type(None))
    what = _expected(meta) or {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, f"a {getattr(kind, '__name__', kind)}"
    )
    return f"null or {what}" if optional else what


def type_problems(cfg: DictConfig) -> list[tuple[str, str]]:
    """``(key, "key=value: must be ...")`` for every value of ``cfg`` the schema's type refuses
    (a composed config passed hydra's checks already; a run's saved ``config.yaml`` has not)."""
    known = schema_fields()
    typed = OmegaConf.structured(RunConfig)
    tree = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    problems = []
    for key, value in _leaves({k: v for k, v in tree.items() if k not in ("hydra", "network")}):
        if key not in known or value == "???":
            continue
        try:
            OmegaConf.update(typed, key, value, merge=False)
        except omegaconf.errors.ValidationError:
            problems.append((key, f"{key}={fmt(value)}: must be {describe_type(known[key])}"))
    for domain, entry in (tree.get("network") or {}).items():
        for name, value in (entry.items() if isinstance(entry, dict) else ()):
            if name in ("critic_hidden", "actor_hidden") and not (
                isinstance(value, list) and value and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in value)
            ):
                key = f"network.{domain}.{name}"
                problems.append((key, f"{key}={fmt(value)}: must be a non-empty list of positive integers (hidden layer widths)"))
    return problems
