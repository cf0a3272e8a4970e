"""What every domain module defines: the :class:`Task` record, the :class:`Domain` base class and
the :class:`Layout` that brings a data source's arrays into a task's env layout.

A domain (locomotion, antmaze, kitchen, adroit, pointmaze) is the knowledge its tasks share:
which entries of a dict observation the agent sees, the reward and success rule of one env
step and its vectorised twin for offline data, the raw reward of an unsolved step, how D4RL
and Minari files map onto the env, its tasks with their normalized-score references, and its
network sizes per scale. Everything that differs between domains is an attribute or a method
of its :class:`Domain` object; the env factory, the data readers and the generator ask it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from torchrl_wsrl.rewards import scale_reward

__all__ = [
    "Task", "Domain", "Layout", "StepRules", "Relabel", "METRICS", "BEHAVIOURS", "NETWORK_SCALES",
    "concat_keys", "compose", "episode_ends", "info_success",
]

METRICS = ("normalized_return", "success_rate", "kitchen_final")
BEHAVIOURS = ("random", "medium", "medium-replay", "expert", "medium-expert", "waypoint", "random-starts")

# Network scales (the ``network=`` options): each keeps the layer counts of the paper's networks
# and sets every hidden layer to one width, (critic width, actor width); ``paper`` keeps the
# authors' widths. ``cpu``: the default profile's (measured on hopper-medium,
# docs/results/hopper-medium); ``compare``: the CPU-scale comparison of algorithms
# (profile/compare.yaml); ``smoke``: the smoke runs of CI. Other domains than locomotion take
# the same widths, unmeasured.
NETWORK_SCALES: Mapping[str, tuple[int, int] | None] = {
    "paper": None,
    "cpu": (128, 128),
    "compare": (64, 128),
    "smoke": (32, 32),
}

# A source-specific relabel: D4RL-keyed arrays as read (plus ``infos``) -> arrays in the task's
# conventions (see torchrl_wsrl.data.transitions.apply_relabel).
Relabel = Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Task:
    """One benchmark task: env construction, reward convention, scoring and data source.

    Attributes:
        name: registry key, e.g. ``"hopper-medium"``, ``"antmaze-large-diverse"``.
        domain: the name of its domain (:data:`torchrl_wsrl.domains.DOMAINS`); :attr:`rules`
            is the :class:`Domain` object.
        env_id: the gymnasium id :func:`gymnasium.make` receives.
        env_kwargs: extra ``gym.make`` keyword arguments as ``(key, value)`` pairs, nested
            sequences as tuples, so the task stays hashable; ``dict(task.env_kwargs)`` gives the
            keyword dict.
        max_episode_steps: TimeLimit of one episode, in env steps.
        reward_scale, reward_bias: the agent trains on ``raw_reward * reward_scale +
            reward_bias`` (applied by the data/replay code, never by the env).
        sparse: the raw reward takes two values, the lower one meaning "not solved"; Monte-Carlo
            returns of an episode that never leaves the lower value use the all-failure rule
            ``r_neg / (1 - gamma)`` (Cal-QL).
        metric: how :func:`~torchrl_wsrl.envs.scores.episode_score` scores one episode, one of
            :data:`METRICS`.
        ref_min_score, ref_max_score: the 0 and 100 points of
            :func:`~torchrl_wsrl.envs.scores.normalized_score`, in units of the metric's raw
            quantity (episode return; success indicator; number of solved kitchen subtasks).
        d4rl_name: the D4RL (or D4RL-format) dataset the paper trains on.
        minari_id: the Minari dataset that re-releases it, ``None`` where none does.
        behaviour: the behaviour ``wsrl-generate`` uses for this task
            unless told otherwise, one of :data:`BEHAVIOURS` (what each means, and how far it
            stands from the paper's data: :mod:`torchrl_wsrl.cli.generate`, docs/tasks.md).
        obs_dim, action_dim: sizes of the flat float32 observation and of the action.

    Raises:
        ValueError: (at construction) an unknown metric or behaviour, or references in the
            wrong order.
    """

    name: str
    domain: str
    env_id: str
    env_kwargs: tuple[tuple[str, Any], ...]
    max_episode_steps: int
    reward_scale: float
    reward_bias: float
    sparse: bool
    metric: str
    ref_min_score: float
    ref_max_score: float
    d4rl_name: str
    minari_id: str | None
    behaviour: str
    obs_dim: int
    action_dim: int

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"Task {self.name!r}: metric {self.metric!r} not in {METRICS}")
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"Task {self.name!r}: behaviour {self.behaviour!r} not in {BEHAVIOURS}")
        if self.ref_max_score <= self.ref_min_score:
            raise ValueError(f"Task {self.name!r}: ref_max_score must exceed ref_min_score")

    @property
    def rules(self) -> Domain:
        """The task's :class:`Domain` object."""
        from torchrl_wsrl.domains import get_domain  # the domain modules import this one

        return get_domain(self.domain)

    @property
    def has_success(self) -> bool:
        """Whether the env reports a per-step ``is_success`` flag (every goal-reaching domain)."""
        return self.rules.has_success

    def scale_reward(self, reward):
        """The reward the agent trains on, ``reward * reward_scale + reward_bias`` (WSRL doc,
        per-domain table: antmaze ``r * 10 - 5``, adroit ``r * 10 + 5``), for a float, a NumPy
        array or a tensor of raw rewards of any shape (the result has its type, shape and, for
        arrays and tensors, dtype): :func:`torchrl_wsrl.rewards.scale_reward` with this task's
        scale and bias."""
        return scale_reward(reward, self.reward_scale, self.reward_bias)

    @property
    def failure_reward(self) -> float | None:
        """The RAW reward of a step that has not solved a sparse task (the domain's
        :attr:`Domain.failure_reward`); ``None`` for dense tasks."""
        return self.rules.failure_reward if self.sparse else None


@dataclass(frozen=True)
class Layout:
    """The reader hooks that bring one source's data into a task's env layout.

    Attributes:
        relabel: see :func:`~torchrl_wsrl.data.transitions.apply_relabel`; ``None``: as read.
        obs_transform: raw observations (arrays or dicts of arrays) -> ``[N, obs_dim]``.
    """

    relabel: Relabel | None = None
    obs_transform: Callable[[Any], np.ndarray] | None = None


class StepRules(NamedTuple):
    """A goal-reaching domain's rule for one env step, applied by the env factory's
    ``GoalTaskWrapper``: ``success(info) -> bool`` and ``reward(raw reward, info) -> reward``
    (``None``: the env's own reward)."""

    success: Callable[[dict[str, Any]], bool]
    reward: Callable[[float, dict[str, Any]], float] | None = None


class Domain:
    """The base of the five domain objects (one per module of :mod:`torchrl_wsrl.domains`).

    Class attributes a domain sets:
        name: the domain's name (``task.domain``, the ``_<name>.yaml`` of ``conf/task/``, the
            key of its entry in a ``network`` option).
        tasks: its :class:`Task` records.
        needs_robotics: its envs come from gymnasium-robotics.
        observation_keys: the entries of the env's dict observation the agent sees, in order;
            ``None``: the env observes a flat vector.
        failure_reward: the RAW reward of a step that has not solved a sparse task.
        paper_networks: the authors' hidden layer widths, ``(critic, actor)`` (WSRL doc,
            "Per-domain settings"); :meth:`networks` derives the other scales.
        d4rl_release_usable: D4RL's own file of a task maps onto the env (docs/tasks.md).
        task_fields: the :class:`Task` fields every task of the domain shares (reward scale and
            bias, sparsity, metric, references...); :meth:`task` adds each task's own.
        scripted_behaviours: the data generator's behaviours for this domain alone, beside
            uniform random actions and the SAC behaviours that every domain has.
    """

    name: str
    tasks: tuple[Task, ...] = ()
    needs_robotics: bool = True
    observation_keys: tuple[str, ...] | None = None
    failure_reward: float | None = None
    paper_networks: tuple[tuple[int, ...], tuple[int, ...]]
    d4rl_release_usable: bool = True
    scripted_behaviours: tuple[str, ...] = ()
    task_fields: Mapping[str, Any] = {}

    @classmethod
    def task(cls, **fields: Any) -> Task:
        """A :class:`Task` of this domain: :attr:`task_fields` with ``fields`` over them."""
        return Task(domain=cls.name, **{**cls.task_fields, **fields})

    @property
    def has_success(self) -> bool:
        """Whether the env reports a per-step ``is_success`` (the domain has :meth:`step_rules`)."""
        return type(self).step_rules is not Domain.step_rules

    def step_rules(self, task: Task) -> StepRules | None:
        """The reward and success rule of one env step; ``None``: the env's own reward, no
        success (locomotion)."""
        return None

    def networks(self, scale: str) -> dict[str, list[int]]:
        """``{"critic_hidden": [...], "actor_hidden": [...]}`` at ``scale`` (a key of
        :data:`NETWORK_SCALES`): the paper's layer counts, every layer of the scale's width.

        Raises:
            KeyError: an unknown scale.
        """
        critic, actor = self.paper_networks
        widths = NETWORK_SCALES[scale]
        if widths is not None:
            critic, actor = (widths[0],) * len(critic), (widths[1],) * len(actor)
        return {"critic_hidden": list(critic), "actor_hidden": list(actor)}

    def minari_layout(self, task: Task) -> Layout:
        """The :class:`Layout` of the task's Minari datasets (default: as read)."""
        return Layout()

    def d4rl_refusal(self, task: Task, width: int) -> str | None:
        """Why a D4RL-layout file of ``width`` observation features cannot be mapped onto the
        task's env, or ``None`` where it can (default)."""
        return None

    def d4rl_layout(self, task: Task, width: int) -> Layout:
        """The :class:`Layout` of a D4RL-layout file of ``width`` observation features (one
        whose root attribute ``env_id`` does not name the task's env; default: as read)."""
        return Layout()

    def medium_stop_score(self, task: Task) -> float | None:
        """The sampled normalized score at which the generator's "medium" SAC stops; ``None``:
        it trains for its whole budget."""
        return None

    def __repr__(self) -> str:
        return f"<domain {self.name}>"


def info_success(info: dict[str, Any]) -> bool:
    """Success flag the maze and Adroit envs put in ``info["success"]`` (False when absent)."""
    return bool(info.get("success", False))


# --- pieces of the layouts --------------------------------------------------------------------
def concat_keys(keys: Sequence[str]) -> Callable[[Any], np.ndarray]:
    """Flatten dict observations: the entries of ``keys``, in that order, side by side."""

    def flatten(observations):
        return np.concatenate([np.asarray(observations[key]) for key in keys], axis=-1)

    return flatten


def compose(*relabels: Relabel) -> Relabel:
    """Apply relabels left to right."""

    def composed(arrays):
        for relabel in relabels:
            arrays = relabel(arrays)
        return arrays

    return composed


def episode_ends(arrays: dict[str, Any]) -> np.ndarray:
    """``[N]`` bool: the last row of every episode (terminal, timeout, or the last row)."""
    ends = np.logical_or(arrays["terminals"], arrays["timeouts"]).reshape(-1)
    ends[-1] = True
    return ends
