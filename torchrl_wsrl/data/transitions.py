"""Flat D4RL-style arrays -> validated offline TensorDict with MC returns (shared by all readers).

Every reader (D4RL HDF5, local Minari) gathers its data into numpy arrays under the D4RL key
names and hands them, with the task's :class:`DatasetSpec`, to :func:`transitions_to_tensordict`,
so relabelling, validation, reward scaling, episode splitting, MC returns and dropping of
timeouts happen in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict

from torchrl_wsrl.data.returns import mc_returns
from torchrl_wsrl.domains.base import Relabel
from torchrl_wsrl.errors import DatasetError
from torchrl_wsrl.rewards import scale_reward

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
OPTIONAL_KEYS = ("timeouts", "next_observations")
D4RL_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS

# Stored actions may sit a rounding error outside the [-1, 1] box of the envs we train on; more
# than this means the data was recorded in another action scale (unnormalised env, wrong task).
ACTION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class DatasetSpec:
    """How a reader's arrays become a task's offline TensorDict (:func:`transitions_to_tensordict`),
    built once per task (:func:`torchrl_wsrl.data.sources.dataset_spec`) and handed to the
    reader, which hands it on.

    Attributes:
        gamma, reward_scale, reward_bias, sparse_failure_reward: the discount and reward
            transform of the MC returns (:func:`~torchrl_wsrl.data.mc_returns`); rewards are
            scaled first (``r * reward_scale + reward_bias``).
        obs_dim, action_dim: feature counts the task's env expects (``None``: not checked).
        max_episode_steps: the task's episode limit; a longer episode is refused (``None``:
            not checked).
        relabel: the source's relabel into the task's conventions
            (:func:`apply_relabel`; the domain's :class:`~torchrl_wsrl.domains.Layout`).
        obs_transform: raw observations ``[N, ...]`` (or a dict of them) -> the env's layout
            ``[N, obs]``, applied after ``relabel``.
    """

    gamma: float = 0.99
    reward_scale: float = 1.0
    reward_bias: float = 0.0
    sparse_failure_reward: float | None = None
    obs_dim: int | None = None
    action_dim: int | None = None
    max_episode_steps: int | None = None
    relabel: Relabel | None = None
    obs_transform: Callable[[Any], np.ndarray] | None = None


def transitions_to_tensordict(
    arrays: Mapping[str, Any],
    spec: DatasetSpec = DatasetSpec(),
    *,
    source: str,
    drop: np.ndarray | None = None,
) -> TensorDict:
    """Validate flat offline transitions and build the TensorDict the offline phase samples from:
    the one conversion of every reader.

    ``spec.relabel`` first rewrites the arrays (with their ``infos``) into the task's
    conventions. Rewards are then scaled (``r * reward_scale + reward_bias``) before the MC
    returns; episodes end on ``terminals``, ``timeouts`` and the last row. Then rows that timed
    out without terminating are dropped (their next state would need a bootstrap the data
    cannot support; WSRL doc, Phase 1, following Cal-QL's data pipeline), as are rows flagged in
    ``drop``. The MC returns of the remaining rows still include the rewards of the dropped ones.

    Args:
        arrays: D4RL keys, all present: ``observations`` ``[N, ...]`` (anything
            ``spec.obs_transform`` accepts, e.g. a dict of arrays), ``actions`` ``[N, act]``,
            ``rewards`` ``[N]`` or ``[N, 1]``, ``terminals`` ``[N]``, ``timeouts`` ``[N]`` (bool
            or 0/1), ``next_observations`` like ``observations``; and ``infos`` (a dict of per-row
            arrays) where ``spec.relabel`` is set.
        spec: the task's :class:`DatasetSpec`.
        source: what the arrays came from (a file path, a Minari id and folder), put in every
            error message.
        drop: optional ``[N]`` bool, further rows to leave out of the output (e.g. whose next
            observation is unknown).

    Returns:
        TensorDict, batch ``[N']``: ``observation`` f32 ``[N', obs]``, ``action`` f32
        ``[N', act]``, ``mc_return`` f32 ``[N', 1]``, and under ``next``: ``observation``,
        ``reward`` f32 ``[N', 1]`` (scaled), ``terminated``, ``truncated`` (all False), ``done``
        (= terminated), bool ``[N', 1]``.

    Raises:
        DatasetError: the relabel failed, mismatched row counts, an empty dataset (or nothing
            left after dropping), NaN/inf values (also where a finite value overflows the
            float32 cast), flags other than 0/1, feature counts other than ``obs_dim`` /
            ``action_dim``, actions outside ``[-1, 1]`` by more than ``ACTION_TOLERANCE``, an
            episode longer than ``max_episode_steps``.
    """
    if spec.relabel is not None:
        arrays = apply_relabel(arrays, spec.relabel, source)
    gamma, reward_scale, reward_bias = spec.gamma, spec.reward_scale, spec.reward_bias
    sparse_failure_reward, obs_dim, action_dim = spec.sparse_failure_reward, spec.obs_dim, spec.action_dim
    obs_transform, max_episode_steps = spec.obs_transform, spec.max_episode_steps
    num_rows = check_lengths(arrays, source)
    for key in ("observations", "next_observations", "actions", "rewards"):
        check_finite(arrays[key], key, source)
    observations = _transformed(arrays["observations"], obs_transform, "observations", source)
    next_observations = _transformed(
        arrays["next_observations"], obs_transform, "next_observations", source
    )
    actions = _features(arrays["actions"], "actions", source)
    check_feature_count(observations, "observations", obs_dim, source)
    check_feature_count(next_observations, "next_observations", obs_dim, source)
    check_feature_count(actions, "actions", action_dim, source)
    check_action_range(actions, source)
    rewards = _column(arrays["rewards"], "rewards", source).astype(np.float64)
    terminals = as_flags(arrays["terminals"], "terminals", source)
    timeouts = as_flags(arrays["timeouts"], "timeouts", source)

    episode_ends = terminals | timeouts
    episode_ends[-1] = True
    check_episode_lengths(episode_ends, max_episode_steps, source)
    scaled = scale_reward(rewards, reward_scale, reward_bias)
    label = "rewards"
    if (reward_scale, reward_bias) != (1.0, 0.0):
        label += f" (scaled: r * {reward_scale:g} + {reward_bias:g})"
    rewards_f32 = to_float32(scaled, label, source)  # refuses e.g. 1e39, finite in float64 only
    scaled_rewards = torch.from_numpy(scaled)
    returns = mc_returns(
        scaled_rewards,
        torch.from_numpy(episode_ends),
        gamma,
        sparse_failure_reward=sparse_failure_reward,
    )
    check_finite(returns.numpy(), "mc_return (discounted sums of the rewards)", source)

    keep = ~(timeouts & ~terminals)
    if drop is not None:
        keep &= ~drop
    if not keep.any():
        raise DatasetError(
            f"{source}: no transitions left after dropping timeouts and rows without a next "
            f"observation ({num_rows} rows read)"
        )
    keep_t = torch.from_numpy(keep)
    terminated = torch.from_numpy(terminals[keep]).unsqueeze(-1)
    return TensorDict(
        {
            "observation": torch.from_numpy(observations[keep]),
            "action": torch.from_numpy(actions[keep]),
            "mc_return": returns[keep_t].unsqueeze(-1),
            "next": {
                "observation": torch.from_numpy(next_observations[keep]),
                "reward": torch.from_numpy(rewards_f32[keep]).unsqueeze(-1),
                "terminated": terminated,
                "truncated": torch.zeros_like(terminated),
                "done": terminated.clone(),
            },
        },
        batch_size=[int(keep.sum())],
    )




def apply_relabel(arrays: dict[str, Any], relabel: Relabel, source: str) -> dict[str, Any]:
    """Run a source-specific ``relabel`` on a reader's raw arrays; drop their ``infos``.

    ``relabel`` receives the D4RL-keyed arrays as read (observations possibly dicts) plus
    ``infos``, a dict of per-step ``[N, ...]`` arrays the source recorded (``{}`` when none), and
    returns D4RL-keyed arrays in the task's conventions (rewards, terminals, actions, and
    observations where the source's frame differs). It must keep every row, in order.

    Raises:
        DatasetError: the relabel failed (its message is prefixed with ``source``) or changed
            the row count.
    """
    num_rows = check_lengths({k: v for k, v in arrays.items() if k != "infos"}, source)
    try:
        relabelled = dict(relabel(arrays))
    except DatasetError as error:
        raise DatasetError(f"{source}: {error}") from error
    relabelled.pop("infos", None)
    if check_lengths(relabelled, source) != num_rows:
        raise DatasetError(
            f"{source}: the relabel returned {check_lengths(relabelled, source)} rows, "
            f"expected {num_rows}"
        )
    return relabelled


def check_lengths(arrays: Mapping[str, Any], source: str) -> int:
    """Row count shared by every array (dict observations: every leaf); raises if any differs.

    Raises:
        DatasetError: a key whose row count differs from ``observations``', or zero rows.
    """
    counts = dict(_leaf_row_counts(arrays))
    expected = next(count for key, count in counts.items() if key.startswith("observations"))
    for key, count in counts.items():
        if count != expected:
            raise DatasetError(
                f"{source}: key {key!r} has {count} rows, expected {expected} like 'observations'"
            )
    if expected == 0:
        raise DatasetError(f"{source}: the dataset is empty (0 transitions)")
    return expected


def check_finite(value: Any, key: str, source: str, *, before: np.ndarray | None = None) -> None:
    """Raise on the first NaN or inf of a float array ``[N, ...]`` (dicts: every leaf).

    Args:
        before: the array ``value`` was cast from (same shape), e.g. float64 data cast to
            float32: the message then says when the offending value was finite before the cast.

    Raises:
        DatasetError: naming the key, the first bad row, its index and value.
    """
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            check_finite(sub_value, f"{key}/{sub_key}", source)
        return
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    index = np.unravel_index(np.argmax(bad), array.shape)  # the first in row order
    num_rows = np.count_nonzero(bad.reshape(len(array), -1).any(axis=1))
    cast = ""
    if before is not None and np.isfinite(before[index]):
        cast = (
            f"; it is {before[index]} in {before.dtype}, finite before the float32 cast "
            f"(beyond float32's range, +-{np.finfo(np.float32).max:.4g})"
        )
    raise DatasetError(
        f"{source}: key {key!r} holds NaN or inf, first at row {index[0]} (index "
        f"{tuple(map(int, index))}, value {array[index]}; {num_rows} rows affected){cast}"
    )


def to_float32(array: Any, key: str, source: str) -> np.ndarray:
    """``array`` as contiguous float32, refusing NaN and inf after the cast (see
    :func:`check_finite`: the message says when a value was finite before, e.g. 1e39 in float64).
    """
    array = np.asarray(array)
    with np.errstate(over="ignore"):  # the overflow is reported by check_finite
        cast = np.ascontiguousarray(array, dtype=np.float32)
    check_finite(cast, key, source, before=array)
    return cast


def check_episode_lengths(episode_ends: np.ndarray, limit: int | None, source: str) -> None:
    """Refuse an episode longer than the task's ``limit`` (None: not checked).

    Args:
        episode_ends: ``[N]`` bool, True on the last row of every episode (the last row too).

    Raises:
        DatasetError: naming the first such episode's start row, its length and the limit.
    """
    if limit is None:
        return
    ends = np.flatnonzero(episode_ends)
    starts = np.concatenate(([0], ends[:-1] + 1))
    too_long = np.flatnonzero(ends - starts + 1 > limit)
    if too_long.size:
        first = too_long[0]
        raise DatasetError(
            f"{source}: the episode starting at row {starts[first]} has "
            f"{ends[first] - starts[first] + 1} steps, more than the task's limit of {limit} "
            f"(max_episode_steps; {too_long.size} episodes too long). Episodes end on "
            "'terminals', 'timeouts' and the last row: does the data mark its time limits in "
            "'timeouts'?"
        )


def check_feature_count(array: np.ndarray, key: str, expected: int | None, source: str) -> None:
    """Compare the feature count ``array.shape[1]`` with what the task's env expects.

    Raises:
        DatasetError: e.g. "observations has 17 features, the task's env expects 11".
    """
    if expected is not None and array.shape[1] != expected:
        raise DatasetError(
            f"{source}: {key} has {array.shape[1]} features, the task's env expects {expected}"
        )


def check_action_range(actions: np.ndarray, source: str) -> None:
    """Actions must lie in the envs' ``[-1, 1]`` box, up to ``ACTION_TOLERANCE``.

    Raises:
        DatasetError: naming the first row outside and the largest magnitude found.
    """
    magnitude = np.abs(actions).max(axis=1)
    outside = np.flatnonzero(magnitude > 1.0 + ACTION_TOLERANCE)
    if outside.size:
        raise DatasetError(
            f"{source}: key 'actions' leaves [-1, 1] (tolerance {ACTION_TOLERANCE}): first at "
            f"row {outside[0]}, largest |action| {magnitude.max():.6g}; the envs expect "
            "normalised actions"
        )


def _leaf_row_counts(arrays: Mapping[str, Any], prefix: str = ""):
    for key, value in arrays.items():
        if isinstance(value, Mapping):
            yield from _leaf_row_counts(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", len(value)


def _transformed(
    raw: Any, obs_transform: Callable[[Any], np.ndarray] | None, key: str, source: str
) -> np.ndarray:
    """Apply ``obs_transform`` (if any) and return float32 ``[N, obs]``, checked again."""
    if obs_transform is None:
        if isinstance(raw, Mapping):
            raise DatasetError(
                f"{source}: {key} are a dict with keys {sorted(raw)}; pass obs_transform to "
                "flatten them into the env's observation layout"
            )
        return _features(raw, key, source)
    label = f"{key} after obs_transform"
    transformed = _features(obs_transform(raw), label, source)
    expected = next(_leaf_row_counts(raw))[1] if isinstance(raw, Mapping) else len(raw)
    if len(transformed) != expected:
        raise DatasetError(
            f"{source}: key {label!r} has {len(transformed)} rows, expected {expected}"
        )
    return transformed


def _features(value: Any, key: str, source: str) -> np.ndarray:
    """Contiguous float32 ``[N, features]``, finite; raises on another rank."""
    array = np.asarray(value)
    if array.ndim != 2:
        raise DatasetError(
            f"{source}: key {key!r} has shape {array.shape}, expected [rows, features]"
        )
    return to_float32(array, key, source)


def _column(value: Any, key: str, source: str) -> np.ndarray:
    """``[N]`` from ``[N]`` or ``[N, 1]``; raises on other shapes."""
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DatasetError(f"{source}: key {key!r} has shape {array.shape}, expected [rows]")
    return array


def as_flags(value: Any, key: str, source: str) -> np.ndarray:
    """Bool ``[N]`` from bool or 0/1 numbers; raises on any other value."""
    array = _column(value, key, source)
    if array.dtype != np.bool_:
        bad_rows = np.flatnonzero((array != 0) & (array != 1))
        if bad_rows.size:
            raise DatasetError(
                f"{source}: key {key!r} must hold booleans or 0/1, found {array[bad_rows[0]]!r} "
                f"at row {bad_rows[0]}"
            )
    return array.astype(bool)
