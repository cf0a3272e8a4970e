"""The saved formats, each written and read here alone:

- agent files (``pretrained.pt``, ``final.pt``): the loss state (actor, critics, target
  critics, temperature, CQL multiplier) and the Adam states, one ``torch.save`` file
  (:func:`save_checkpoint`, :func:`load_checkpoint`, :func:`restore`);
- behaviour-policy files (``<data>.policy.pt`` beside a generated dataset): the actor alone, in
  the agent files' layout, so that one reader takes either (:func:`save_policy_file`,
  :func:`load_policy_actor`);
- run checkpoints (below): everything a killed run needs to go on exactly where it stopped,
  checked before anything is restored.

Run checkpoints are on TorchRL's ``torchrl.checkpoint``.

A run checkpoint is a ``torchrl.checkpoint.Checkpoint`` directory under ``RUN_DIR/checkpoints``
(``CheckpointRotation`` keeps the last ``checkpoint.keep_last``; its staging directory and
rename make each one appear whole or not at all; the files are fsynced before the rename is
published). Its components:

==============  =============================================================================
``loss``        the loss module's state: actor, critics, target critics, temperature, CQL
                multiplier
``optimizers``  one Adam state per parameter group (:func:`~torchrl_wsrl.update.make_optimizers`)
``replay``      the online ``ReplayBuffer``'s own ``state_dict`` (storage, writer, the warmup
                transform's counter), its storage cut to the filled rows
``rng``         ``torchrl.checkpoint.GlobalRNGState``: python, numpy and torch generators
``env_rng``     the gymnasium generators of the collector's and the evaluation env
``progress``    phase, step counters, metric rows written, scores so far (JSON)
``interval``    the update metrics accumulated since the last metrics row
``run``         task name, network shapes and the resolved config (JSON)
==============  =============================================================================

Tensor payloads are ``torch.save`` files read back with ``weights_only=True`` (TorchRL's
``StateDictCheckpointAdapter``): loading never runs code. The agent files ``pretrained.pt`` and
``final.pt`` (loss and optimizer states, a single ``torch.save`` file) are read the same way.
"""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torchrl.checkpoint import (
    Checkpoint,
    CheckpointRotation,
    GlobalRNGState,
    JSONCheckpointAdapter,
    StateDictCheckpointAdapter,
)
from torchrl.envs.libs.gym import GymWrapper
from torchrl.objectives import LossModule

from torchrl.envs.utils import ExplorationType

from torchrl_wsrl.envs import get_task
from torchrl_wsrl.modules import POLICY_NETWORK_PATH, actor_from_state, actor_sizes, critic_sizes, policy_network

__all__ = [
    "agent_file_networks",
    "agent_state",
    "export_agent",
    "load_checkpoint",
    "load_policy",
    "load_policy_actor",
    "restore",
    "save_checkpoint",
    "save_policy_file",
    "write_checkpoint",
    "CheckpointMismatchError",
    "EnvRNGState",
    "ReplayState",
    "RunCheckpoints",
    "check_agent_state",
    "read_torch_file",
]

CHECKPOINT_PREFIX = "checkpoint"
# Loss-state entries that belong to the policy (restored alone by ``algo.init_critic=false``):
# TorchRL's LossModule keeps the actor's parameters as ``actor_network_params``.
POLICY_STATE_PREFIXES = ("actor_network_params", "log_alpha")
POLICY_OPTIMIZERS = ("actor", "alpha")
# The CQL multiplier of a Cal-QL loss: its state entries and its optimizer. An online (WSRL)
# agent's file, such as final.pt, has none; started from such a file, a Cal-QL loss keeps its own.
CQL_MULTIPLIER = ("cql_alpha", "cql_alpha_raw")
# The actor's own parameter names (modules.policy_network) in a loss state.
ACTOR_STATE_PREFIX = f"actor_network_params.{POLICY_NETWORK_PATH}."
CRITIC_STATE_PREFIX = "qvalue_network_params."  # the EnsembleQCritic's own state below it
STATE_COMPONENTS = ("loss", "optimizers", "replay", "rng", "env_rng", "interval")
JSON_COMPONENTS = ("progress", "run")


class CheckpointMismatchError(ValueError):
    """A checkpoint that cannot be restored into this run: unreadable, another task, other
    networks, missing or extra entries, non-finite values. The message names the file."""


def read_torch_file(path: str | Path, *, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointMismatchError: the file is truncated, is not a ``torch.save`` file, or holds
            pickled objects other than tensors and plain containers (refused, never run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" not in str(err):  # not a pickled object the allowlist refused: garbage
            raise CheckpointMismatchError(
                f"{path}: not a readable {what} (truncated, or not written by torch.save)"
            ) from None
        refused = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), "")
        raise CheckpointMismatchError(
            f"{path}: refused to load: it holds pickled objects other than tensors and plain "
            f"containers, which could run code (torch.load weights_only=True: {refused})"
        ) from None
    except Exception as err:  # garbage unpickles into any error (EOFError, IndexError, BadZipFile, ...)
        raise CheckpointMismatchError(
            f"{path}: not a readable {what} (truncated, or not written by torch.save): {err}"
        ) from None


# -- checks -----------------------------------------------------------------------------------
def _non_finite(state: Any, prefix: str = "") -> list[str]:
    """Names of the floating tensors in a (nested) state dict with a NaN or an infinity."""
    if isinstance(state, torch.Tensor):
        return [prefix] if state.is_floating_point() and not torch.isfinite(state).all() else []
    if isinstance(state, Mapping):
        return [name for k, v in state.items() for name in _non_finite(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(state, (list, tuple)):
        return [name for i, v in enumerate(state) for name in _non_finite(v, f"{prefix}[{i}]")]
    return []


def _check_loss_state(source: str, state: Mapping, expected: Mapping[str, torch.Tensor], allow_missing=()) -> None:
    missing = sorted(set(expected) - set(state) - set(allow_missing))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointMismatchError(
            f"{source}: the loss state does not fit this run's networks (other layer counts or "
            f"another kind of network?): missing {missing[:4]}{' ...' if len(missing) > 4 else ''}, "
            f"unexpected {extra[:4]}{' ...' if len(extra) > 4 else ''}"
        )
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        k, saved, own = wrong[0]
        raise CheckpointMismatchError(
            f"{source}: {k} has shape {saved}, this run's has {own} ({len(wrong)} tensors differ: "
            "other network sizes, or another task's observation or action size?)"
        )


def _check_optimizer_states(source: str, states: Mapping, optimizers: Mapping[str, torch.optim.Optimizer], allow_missing=()) -> None:
    if set(states) != set(optimizers) - (set(allow_missing) - set(states)):
        raise CheckpointMismatchError(
            f"{source}: optimizers {sorted(states)} in the file, this run has {sorted(optimizers)}"
        )
    for name, optimizer in optimizers.items():
        if name not in states:
            continue
        params = [p for group in optimizer.param_groups for p in group["params"]]
        saved_groups = states[name].get("param_groups", [])
        saved_count = sum(len(group["params"]) for group in saved_groups)
        if saved_count != len(params):
            raise CheckpointMismatchError(
                f"{source}: optimizer {name!r} holds {saved_count} parameters, this run's {len(params)}"
            )
        for index, (param, slot) in enumerate(zip(params, (i for g in saved_groups for i in g["params"]))):
            moment = states[name]["state"].get(slot, {}).get("exp_avg")
            if moment is not None and tuple(moment.shape) != tuple(param.shape):
                raise CheckpointMismatchError(
                    f"{source}: optimizer {name!r} parameter {index} has Adam moments of shape "
                    f"{tuple(moment.shape)}, this run's parameter is {tuple(param.shape)}"
                )


def _check_finite(source: str, **states: Any) -> None:
    bad = [f"{name}:{key}" for name, state in states.items() for key in _non_finite(state)]
    if bad:
        raise CheckpointMismatchError(f"{source}: non-finite values (NaN or inf) in {bad[:4]}{' ...' if len(bad) > 4 else ''}")


def check_agent_state(
    source: str,
    checkpoint: Mapping,
    *,
    task: str,
    loss: torch.nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    allow_missing: tuple[str, ...] = (),
) -> None:
    """Refuse an agent state (``{"task", "loss", "optimizers"}``) that this run cannot restore
    whole: another ``task``, missing or unexpected entries, other shapes or layer counts than
    ``loss``'s state (and ``optimizers``' when given), NaN or inf anywhere. Loss entries and
    optimizers named in ``allow_missing`` may be absent (e.g. :data:`CQL_MULTIPLIER`: a
    ``final.pt`` restored into a Cal-QL loss).

    Raises:
        CheckpointMismatchError: naming ``source`` and the first mismatch.
    """
    for key in ("task", "loss", "optimizers"):
        if key not in checkpoint:
            raise CheckpointMismatchError(f"{source}: no {key!r} entry (entries: {sorted(checkpoint)})")
    if checkpoint["task"] != task:
        raise CheckpointMismatchError(f"{source}: written for task {checkpoint['task']!r}, this run's task is {task!r}")
    _check_loss_state(source, checkpoint["loss"], loss.state_dict(), allow_missing)
    if optimizers is not None:
        _check_optimizer_states(source, checkpoint["optimizers"], optimizers, allow_missing)
    _check_finite(source, loss=checkpoint["loss"], optimizers=checkpoint["optimizers"])


# -- components that TorchRL has no state_dict for ----------------------------------------------
class ReplayState:
    """``state_dict`` / ``load_state_dict`` of a TorchRL ``ReplayBuffer`` over a
    ``LazyTensorStorage``, its storage cut to the rows written (TorchRL's own state holds the
    whole preallocated capacity: 2M rows at the paper's settings for 300k transitions)."""

    def __init__(self, buffer):
        self.buffer = buffer

    def state_dict(self) -> dict:
        state = self.buffer.state_dict()
        storage = state["_storage"]
        rows = len(self.buffer)
        if storage["_storage"]:
            storage["_storage"] = _slice_tensor_state(storage["_storage"], rows)
        storage["capacity"] = self.buffer.storage.max_size
        return state

    def load_state_dict(self, state: dict) -> None:
        storage = dict(state["_storage"])
        capacity = storage.pop("capacity")
        if capacity != self.buffer.storage.max_size:
            raise ValueError(f"saved replay buffer capacity {capacity}, this run's {self.buffer.storage.max_size}")
        if storage["_storage"]:
            storage["_storage"] = _pad_tensor_state(storage["_storage"], capacity)
        self.buffer.load_state_dict({**state, "_storage": storage})


def _map_tensors(state: OrderedDict, fn) -> OrderedDict:
    """A TensorDict ``state_dict`` (flat keys, batch sizes in ``_metadata``) with ``fn``
    applied to each tensor; the metadata (the storage's capacity as batch size) is kept."""
    out = OrderedDict((k, fn(v) if isinstance(v, torch.Tensor) else v) for k, v in state.items())
    out._metadata = state._metadata
    return out


def _slice_tensor_state(state: OrderedDict, rows: int) -> OrderedDict:
    return _map_tensors(state, lambda v: v[:rows].clone())


def _pad_tensor_state(state: OrderedDict, capacity: int) -> OrderedDict:
    def pad(v):
        full = v.new_zeros((capacity, *v.shape[1:]))
        full[: v.shape[0]] = v
        return full

    return _map_tensors(state, pad)


def gym_rng(env: GymWrapper):
    """The numpy ``Generator`` behind a TorchRL ``GymWrapper``'s gymnasium env."""
    return env._env.unwrapped.np_random


class EnvRNGState:
    """The gymnasium generators of named TorchRL envs, as a state dict.

    An env built with :class:`~torchrl_wsrl.envs.wrappers.RecordResetRNG` is saved with the
    state its generator had just before its last reset: restored into a fresh env before a
    collector resets it, that reset draws the same start state again (the collector's env is
    checkpointed right after an episode ended and it reset). Other envs are saved as they are.
    """

    def __init__(self, **envs: GymWrapper):
        self.envs = envs

    def state_dict(self) -> dict:
        return {name: _state_before_reset(env) for name, env in self.envs.items()}

    def load_state_dict(self, state: Mapping) -> None:
        if set(state) != set(self.envs):
            raise ValueError(f"env generators {sorted(state)} saved, this run has {sorted(self.envs)}")
        for name, env in self.envs.items():
            gym_rng(env).bit_generator.state = state[name]


def _state_before_reset(env: GymWrapper) -> dict:
    recorded = getattr(env._env, "rng_state_before_reset", None)
    return dict(recorded) if recorded is not None else dict(gym_rng(env).bit_generator.state)


class _Captured:
    """Stands in for a component while loading, so that the state can be checked before it
    is applied to anything."""

    def __init__(self):
        self.state = None

    def state_dict(self):  # pragma: no cover - never saved
        raise RuntimeError("a capture is for loading only")

    def load_state_dict(self, state):
        self.state = state


def _fsync_tree(path: Path) -> None:
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        with file.open("rb") as f:
            os.fsync(f.fileno())
    for directory in [path, *sorted(p for p in path.rglob("*") if p.is_dir())]:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _SyncedCheckpoint(Checkpoint):
    """``Checkpoint`` whose staged files are fsynced before TorchRL renames them into place:
    after a crash a checkpoint is either absent or whole."""

    @staticmethod
    def _publish_path(source: Path, destination: Path) -> None:
        if source.is_dir():
            _fsync_tree(source)
        Checkpoint._publish_path(source, destination)


def _checkpoint(components: Mapping[str, Any]) -> Checkpoint:
    checkpoint = _SyncedCheckpoint(strict="error")
    for name, value in components.items():
        adapter = JSONCheckpointAdapter() if name in JSON_COMPONENTS else StateDictCheckpointAdapter("torch")
        checkpoint.register(name, value, adapter=adapter)
    return checkpoint


def latest_run_checkpoint(run_dir: str | Path) -> Path | None:
    """The latest run checkpoint of run directory ``run_dir``
    (``RUN_DIR/checkpoints/checkpoint-<step>``, the furthest along), or None."""
    return CheckpointRotation(Path(run_dir) / "checkpoints", keep_last=1, prefix=CHECKPOINT_PREFIX).latest()


class RunCheckpoints:
    """The rotating checkpoints of one run directory.

    Each is named by the run's position, ``checkpoint-<step>``: gradient steps in phase 1, then
    ``pretrain_steps +`` env steps online, so that the latest is always the furthest along.

    Args:
        directory: ``RUN_DIR/checkpoints``.
        keep_last: checkpoints kept (older ones are deleted after a new one is written).
        task: the run's task name, written in and checked against every checkpoint.
    """

    def __init__(self, directory: str | Path, *, keep_last: int, task: str):
        self.directory = Path(directory)
        self.task = task
        self.rotation = CheckpointRotation(self.directory, keep_last=keep_last, prefix=CHECKPOINT_PREFIX)

    def save(self, position: int, *, loss, optimizers: Mapping, replay, envs: Mapping[str, GymWrapper], progress: dict, interval, run: dict) -> Path:
        """Write one checkpoint at ``position`` (see the class docstring) and prune old ones.

        Raises:
            OSError: the write failed (a full disk: torch reports it as a ``RuntimeError`` of
                its stream writer); the message names the directory, and the checkpoints
                written before are kept.
        """
        components = {
            "loss": loss,
            "optimizers": _OptimizerStates(optimizers),
            "replay": _Optional(None if replay is None else ReplayState(replay)),
            "rng": GlobalRNGState(),
            "env_rng": EnvRNGState(**envs),
            "interval": interval,
            "progress": dict(progress),
            "run": {"task": self.task, **run},
        }
        try:
            return self.rotation.save(_checkpoint(components), step=position, metadata={"task": self.task, "phase": progress["phase"]})
        except (OSError, RuntimeError) as err:
            if isinstance(err, RuntimeError) and "PytorchStreamWriter" not in str(err):
                raise
            raise OSError(f"could not write run checkpoint {position} under {self.directory}: {str(err).strip().splitlines()[-1]}") from err

    def latest(self) -> Path | None:
        return self.rotation.latest()

    def read(self, path: Path) -> dict[str, Any]:
        """The states of checkpoint ``path``, read (``weights_only=True``) but applied to
        nothing: ``{component: state}``.

        Raises:
            CheckpointMismatchError: an unreadable checkpoint, one that lacks a component or
                has an unknown one, or one written for another task.
        """
        try:
            manifest = Checkpoint.manifest(path)
        except Exception as err:
            raise CheckpointMismatchError(f"{path}: not a readable run checkpoint: {err}") from None
        expected = set(STATE_COMPONENTS) | set(JSON_COMPONENTS)
        found = set(manifest["components"])
        if found != expected:
            raise CheckpointMismatchError(
                f"{path}: components {sorted(found)}; a run checkpoint has exactly {sorted(expected)} "
                f"(missing {sorted(expected - found)}, unexpected {sorted(found - expected)})"
            )
        captures = {name: _Captured() for name in STATE_COMPONENTS}
        checkpoint = _checkpoint({**captures, **{name: {} for name in JSON_COMPONENTS}})
        try:
            result = checkpoint.load(path)
        except Exception as err:
            raise CheckpointMismatchError(f"{path}: cannot be read: {err}") from None
        states = {name: capture.state for name, capture in captures.items()}
        states.update({name: dict(result.values.get(name, checkpoint.components[name])) for name in JSON_COMPONENTS})
        if states["run"].get("task") != self.task:
            raise CheckpointMismatchError(f"{path}: written for task {states['run'].get('task')!r}, this run's task is {self.task!r}")
        return states

    def check(self, path: Path, states: Mapping, *, loss, optimizers: Mapping) -> None:
        """Refuse states that do not fit ``loss`` and ``optimizers`` exactly, or hold NaN / inf
        (:class:`CheckpointMismatchError`, naming ``path``)."""
        check_agent_state(
            str(path), {"task": self.task, "loss": states["loss"], "optimizers": states["optimizers"]},
            task=self.task, loss=loss, optimizers=optimizers,
        )
        # Online transitions carry mc_return = -inf until their episode ends (replay.as_transitions).
        replay = {k: v for k, v in states["replay"].get("_storage", {}).get("_storage", {}).items() if k != "mc_return"}
        _check_finite(str(path), replay=replay, interval=states["interval"])


class _OptimizerStates:
    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer]):
        self.optimizers = optimizers

    def state_dict(self) -> dict:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}


class _Optional:
    """A component that may be absent (no online buffer yet during phase 1): saved as ``{}``."""

    def __init__(self, value):
        self.value = value

    def state_dict(self) -> dict:
        return {} if self.value is None else self.value.state_dict()


def write_checkpoint(path: Path, payload: dict) -> Path:
    """``torch.save`` ``payload`` to ``path`` through a temporary file, fsync and a rename, so
    that a crash never leaves a partial file under the final name, and a failed write (a full
    disk) leaves no temporary file behind; refuses to overwrite an existing file.

    Raises:
        FileExistsError: ``path`` exists.
        OSError: the write failed (the message names ``path``).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"checkpoint {path} exists already; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(path)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write checkpoint {path}: {err}") from err
    return path


def agent_state(loss: LossModule, optimizers: dict, **extra) -> dict:
    """The agent as a checkpoint holds it: ``{"loss": loss state (actor, critics, target
    critics, temperature, CQL multiplier), "optimizers": Adam states, **extra}``."""
    optimizer_states = {k: o.state_dict() for k, o in optimizers.items()}
    return {"loss": loss.state_dict(), "optimizers": optimizer_states, **extra}


def save_checkpoint(path: Path, loss: LossModule, optimizers: dict, **extra) -> Path:
    """Write :func:`agent_state` to ``path`` (:func:`write_checkpoint`)."""
    return write_checkpoint(path, agent_state(loss, optimizers, **extra))


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``
    (:func:`read_torch_file`: ``FileNotFoundError`` if absent, ``CheckpointMismatchError`` if
    unreadable or holding anything but tensors and plain containers). Check it against a run
    with :func:`check_agent_state`."""
    return read_torch_file(path, what="checkpoint")


def restore(loss: LossModule, optimizers: dict, checkpoint: dict, *, source: str, policy_only: bool = False) -> None:
    """Load a checkpoint's agent into ``loss`` and ``optimizers`` (WSRL doc, Phase 3: actor,
    critics, target critics, temperature and Adam moments and step counts; the learning rates
    and flags stay this run's, so an online run may set its own). The CQL multiplier of a Cal-QL
    checkpoint is ignored by a WSRL loss. ``policy_only`` restores the actor and temperature
    only (the ``wsrl_policy_only`` ablation).

    Raises:
        ValueError: the checkpoint's networks do not fit this run's (names ``source``).
    """
    state = checkpoint["loss"]
    own = loss.state_dict()
    keep = {
        k: v
        for k, v in state.items()
        if k in own and (not policy_only or k.startswith(POLICY_STATE_PREFIXES))
    }
    mismatched = [k for k, v in keep.items() if own[k].shape != v.shape]
    if mismatched:
        raise ValueError(
            f"{source}: parameters {mismatched[:3]} have shapes {[tuple(keep[k].shape) for k in mismatched[:3]]}, "
            f"this run expects {[tuple(own[k].shape) for k in mismatched[:3]]}: was it trained on another task or network size?"
        )
    loss.load_state_dict(keep, strict=False)
    names = POLICY_OPTIMIZERS if policy_only else optimizers.keys()
    for name in names:
        if name in checkpoint["optimizers"] and name in optimizers:
            optimizer = optimizers[name]
            # Adam's state_dict carries its hyperparameters too: the checkpoint gives the moments
            # and step counts, this run's config the learning rate and flags (``capturable``).
            settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            optimizer.load_state_dict(checkpoint["optimizers"][name])
            for group, own in zip(optimizer.param_groups, settings):
                group.update(own)


def save_policy_file(path: Path, actor, task_name: str, **metadata) -> Path:
    """Write a behaviour policy's actor alone (no critic, no optimizer: about 300 kB at 2x256)
    in the agent files' layout, with the task name and ``metadata`` (numbers, strings); refuses
    to overwrite (``FileExistsError``)."""
    state = {ACTOR_STATE_PREFIX + key: value for key, value in policy_network(actor).state_dict().items()}
    return write_checkpoint(path, {"loss": state, "optimizers": {}, "task": task_name, **metadata})


def load_policy_actor(path: str | Path, task) -> torch.nn.Module:
    """The actor of any agent file or behaviour-policy file of this package, its hidden sizes
    and kind of standard deviation read off the stored weights
    (:func:`~torchrl_wsrl.modules.actor_from_state`).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointMismatchError: unreadable, or holding anything but tensors.
        ValueError: the file was written for another task, holds no actor, or its actor does
            not take ``task``'s observations or give its actions.
    """
    checkpoint = load_checkpoint(path)
    if checkpoint.get("task", task.name) != task.name:
        raise ValueError(f"{path} holds an agent trained on task {checkpoint['task']!r}, not {task.name!r}")
    state = {k.removeprefix(ACTOR_STATE_PREFIX): v for k, v in checkpoint["loss"].items() if k.startswith(ACTOR_STATE_PREFIX)}
    if not state:
        raise ValueError(f"{path}: no actor weights under {ACTOR_STATE_PREFIX!r}")
    try:
        return actor_from_state(state, task.obs_dim, task.action_dim)
    except ValueError as err:
        raise ValueError(f"{path}: {err} (task {task.name!r})") from err


def load_policy(path: str | Path, *, deterministic: bool = True) -> torch.nn.Module:
    """The trained actor of any agent file (``pretrained.pt``, ``final.pt``) or behaviour-policy
    file of this package, as a TorchRL policy ready for ``env.rollout(n, policy)`` on the
    task's env (:func:`~torchrl_wsrl.envs.make_env` of the task named in the file): reads
    ``observation`` ``[*B, obs_dim]``, writes ``action`` ``[*B, action_dim]`` in ``[-1, 1]``,
    ``tanh`` of the mean if ``deterministic`` (evaluation), else a sample of the tanh-Gaussian
    (as it collected data). Its parameters are frozen (no gradient).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointMismatchError: unreadable, or holding anything but tensors.
        ValueError: the file names no task of the registry, or holds no actor for it.
    """
    name = load_checkpoint(path).get("task")
    try:
        task = get_task(name)
    except (KeyError, TypeError):
        raise ValueError(f"{path}: names no registered task (task={name!r}); it is not an agent file of this package") from None
    actor = load_policy_actor(path, task).requires_grad_(False)
    actor.module[-1].default_interaction_type = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
    return actor


def export_agent(run_checkpoint: str | Path, path: str | Path, **metadata) -> Path:
    """Write the agent held by a run checkpoint (``RUN_DIR/checkpoints/checkpoint-<step>``) as
    an agent file at ``path``: the loss state and the Adam states, the task name and
    ``metadata`` (numbers and strings, e.g. the provenance of a shipped agent). The file loads
    wherever a ``pretrained.pt`` does (``pretrained_checkpoint=``, :func:`load_policy`).

    Raises:
        CheckpointMismatchError: ``run_checkpoint`` is not a readable run checkpoint.
        FileExistsError: ``path`` exists (never overwritten).
    """
    run_checkpoint = Path(run_checkpoint)
    try:
        task = Checkpoint.manifest(run_checkpoint)["metadata"]["task"]
    except Exception as err:
        expected = "expected a folder RUN_DIR/checkpoints/checkpoint-<step>"
        latest = latest_run_checkpoint(run_checkpoint)  # a run directory given
        if latest is not None:
            expected += f"; this run's latest: {latest}"
        elif run_checkpoint.is_file():
            expected += "; a file is an agent file already, loaded as it is"
        raise CheckpointMismatchError(f"{run_checkpoint}: not a readable run checkpoint ({expected}): {err}") from None
    states = RunCheckpoints(run_checkpoint.parent, keep_last=1, task=task).read(run_checkpoint)
    payload = {"loss": states["loss"], "optimizers": states["optimizers"], "task": task, **metadata}
    _check_finite(str(run_checkpoint), loss=payload["loss"], optimizers=payload["optimizers"])
    return write_checkpoint(path, payload)


def agent_file_networks(loss_state: Mapping[str, torch.Tensor]) -> dict:
    """The network settings an agent file's loss state was built with, read off its weights
    (:func:`~torchrl_wsrl.modules.critic_sizes`, :func:`~torchrl_wsrl.modules.actor_sizes`):
    ``num_critics``, ``critic_hidden`` (widths), ``head`` (``per_critic`` | ``shared``),
    ``actor_hidden`` and ``state_dependent_std``.

    Raises:
        ValueError: the state holds no critic ensemble or no actor.
    """
    def below(prefix):
        return {k.removeprefix(prefix): v for k, v in loss_state.items() if k.startswith(prefix)}

    num_critics, critic_hidden, head = critic_sizes(below(CRITIC_STATE_PREFIX))
    actor_hidden, state_dependent_std = actor_sizes(below(ACTOR_STATE_PREFIX))
    return {
        "num_critics": num_critics, "critic_hidden": list(critic_hidden), "head": head,
        "actor_hidden": list(actor_hidden), "state_dependent_std": state_dependent_std,
    }
