"""The task registry: every benchmark task of the WSRL paper, plus point-maze.

A :class:`Task` is pure data (no gymnasium import): which env to build, its episode length,
the reward scale and bias the agent applies, how an episode is scored and where its offline
data lives. :mod:`torchrl_wsrl.envs.factory` turns a task into an env.

Reward scale and bias (``r * scale + bias``) are the authors' per-domain settings (WSRL paper,
appendix; wsrl-algorithm.md "Per-domain settings"). The env itself returns the RAW reward.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from torchrl_wsrl.rewards import scale_reward
from torchrl_wsrl.envs.mazes import (
    ANTMAZE_LARGE_EVAL,
    ANTMAZE_MEDIUM_EVAL,
    ANTMAZE_ULTRA_EVAL,
    ANTMAZE_UMAZE_EVAL,
    POINTMAZE_LARGE,
    POINTMAZE_MEDIUM,
    POINTMAZE_UMAZE,
)

__all__ = ["Task", "get_task", "list_tasks", "DOMAINS", "METRICS", "BEHAVIOURS"]

DOMAINS = ("locomotion", "antmaze", "kitchen", "adroit", "pointmaze")
METRICS = ("normalized_return", "success_rate", "kitchen_final")
BEHAVIOURS = (
    "random",
    "medium",
    "medium-replay",
    "expert",
    "medium-expert",
    "waypoint",
    "random-starts",
)
# The raw reward of a step that has not solved a sparse task (see Task.failure_reward).
_RAW_FAILURE_REWARD = {"antmaze": 0.0, "pointmaze": 0.0, "adroit": -1.0}


@dataclass(frozen=True)
class Task:
    """One benchmark task: env construction, reward convention, scoring and data source.

    Attributes:
        name: registry key, e.g. ``"hopper-medium"``, ``"antmaze-large-diverse"``.
        domain: one of :data:`DOMAINS`.
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
        behaviour: the behaviour ``python -m torchrl_wsrl.data.generate`` uses for this task
            unless told otherwise, one of :data:`BEHAVIOURS` (what each means, and how far it
            stands from the paper's data: :mod:`torchrl_wsrl.data.generate`, docs/tasks.md).
        obs_dim, action_dim: sizes of the flat float32 observation and of the action.
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
        if self.domain not in DOMAINS:
            raise ValueError(f"Task {self.name!r}: domain {self.domain!r} not in {DOMAINS}")
        if self.metric not in METRICS:
            raise ValueError(f"Task {self.name!r}: metric {self.metric!r} not in {METRICS}")
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(
                f"Task {self.name!r}: behaviour {self.behaviour!r} not in {BEHAVIOURS}"
            )
        if self.ref_max_score <= self.ref_min_score:
            raise ValueError(f"Task {self.name!r}: ref_max_score must exceed ref_min_score")

    @property
    def has_success(self) -> bool:
        """Whether the env reports a per-step ``is_success`` flag (every goal-reaching domain)."""
        return self.domain != "locomotion"

    def scale_reward(self, reward):
        """The reward the agent trains on, ``reward * reward_scale + reward_bias`` (WSRL doc,
        per-domain table: antmaze ``r * 10 - 5``, adroit ``r * 10 + 5``), for a float, a NumPy
        array or a tensor of raw rewards of any shape (the result has its type, shape and, for
        arrays and tensors, dtype): :func:`torchrl_wsrl.rewards.scale_reward` with this task's
        scale and bias."""
        return scale_reward(reward, self.reward_scale, self.reward_bias)

    @property
    def failure_reward(self) -> float | None:
        """The RAW reward of a step that has not solved a sparse task (0 for the 0/1 maze
        rewards, -1 for Adroit's -1/0 binary reward); ``None`` for dense tasks."""
        return _RAW_FAILURE_REWARD[self.domain] if self.sparse else None


_REGISTRY: dict[str, Task] = {}


def _register(**fields) -> None:
    task = Task(**fields)
    if task.name in _REGISTRY:
        raise ValueError(f"Task {task.name!r} registered twice")
    _REGISTRY[task.name] = task


# --- locomotion: gymnasium MuJoCo v5 ---------------------------------------------------------
# D4RL v2 reference returns (d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE).
_LOCOMOTION = {
    # name: (env_id, obs_dim, action_dim, ref_min, ref_max)
    "halfcheetah": ("HalfCheetah-v5", 17, 6, -280.178953, 12135.0),
    "hopper": ("Hopper-v5", 11, 3, -20.272305, 3234.3),
    "walker2d": ("Walker2d-v5", 17, 6, 1.629008, 4592.3),
}
# Minari's "mujoco/<env>/*-v0" datasets are new collections on the v5 envs, not D4RL
# re-releases, but their medium/expert levels play the same role; Minari has no random,
# medium-replay or medium-expert counterpart.
_MINARI_LOCOMOTION_LEVELS = ("medium", "expert")

for _env, (_env_id, _obs, _act, _lo, _hi) in _LOCOMOTION.items():
    for _level in ("random", "medium", "medium-replay", "expert", "medium-expert"):
        _register(
            name=f"{_env}-{_level}",
            domain="locomotion",
            env_id=_env_id,
            env_kwargs=(),
            max_episode_steps=1000,
            reward_scale=1.0,
            reward_bias=0.0,
            sparse=False,
            metric="normalized_return",
            ref_min_score=_lo,
            ref_max_score=_hi,
            d4rl_name=f"{_env}-{_level}-v2",
            minari_id=(
                f"mujoco/{_env}/{_level}-v0" if _level in _MINARI_LOCOMOTION_LEVELS else None
            ),
            behaviour=_level,
            obs_dim=_obs,
            action_dim=_act,
        )

# --- antmaze: gymnasium-robotics AntMaze v5 ----------------------------------------------------
# Observation: achieved_goal (ant x, y) then the env's 27-dim observation (qpos[2:15],
# qvel[0:14]); that is D4RL's 29-dim qpos + qvel. include_cfrc_ext_in_observation=False drops
# Ant-v5's 78 contact-force entries, which D4RL's ant never had. continuing_task=False ends
# the episode on success (distance to goal <= 0.45; D4RL used 0.5). The maze_map override gives
# D4RL's single evaluation start and goal (torchrl_wsrl.envs.mazes). The ant is gymnasium's
# Ant-v5 model and the world frame is gymnasium-robotics' (see mazes.py), so D4RL's own HDF5
# files do not match this env exactly; Minari's D4RL/antmaze re-release was collected on the
# gymnasium-robotics AntMaze and does.
# Behaviour: no scripted controller can walk the ant, so the generator's stand-in is uniform
# random actions from uniformly drawn open cells ("random-starts"): it covers the maze, goal
# included, but never navigates (D4RL's data come from a goal-reaching ant policy).
_ANTMAZE = {
    # name: (env_id, eval map, max_episode_steps, minari_id)
    "antmaze-umaze": ("AntMaze_UMaze-v5", ANTMAZE_UMAZE_EVAL, 700, "D4RL/antmaze/umaze-v1"),
    "antmaze-umaze-diverse": (
        "AntMaze_UMaze-v5", ANTMAZE_UMAZE_EVAL, 700, "D4RL/antmaze/umaze-diverse-v1"
    ),
    "antmaze-medium-play": (
        "AntMaze_Medium_Diverse_GR-v5", ANTMAZE_MEDIUM_EVAL, 1000, "D4RL/antmaze/medium-play-v1"
    ),
    "antmaze-medium-diverse": (
        "AntMaze_Medium_Diverse_GR-v5",
        ANTMAZE_MEDIUM_EVAL,
        1000,
        "D4RL/antmaze/medium-diverse-v1",
    ),
    "antmaze-large-play": (
        "AntMaze_Large_Diverse_GR-v5", ANTMAZE_LARGE_EVAL, 1000, "D4RL/antmaze/large-play-v1"
    ),
    "antmaze-large-diverse": (
        "AntMaze_Large_Diverse_GR-v5", ANTMAZE_LARGE_EVAL, 1000, "D4RL/antmaze/large-diverse-v1"
    ),
    # The 12 x 16 ultra maze: same ant, bigger map. Its registration in d4rl_ext uses
    # max_episode_steps=2000, kept here; no Minari re-release exists.
    "antmaze-ultra-play": ("AntMaze_Large_Diverse_GR-v5", ANTMAZE_ULTRA_EVAL, 2000, None),
    "antmaze-ultra-diverse": ("AntMaze_Large_Diverse_GR-v5", ANTMAZE_ULTRA_EVAL, 2000, None),
}

for _name, (_env_id, _map, _steps, _minari) in _ANTMAZE.items():
    _register(
        name=_name,
        domain="antmaze",
        env_id=_env_id,
        env_kwargs=(
            ("maze_map", _map),
            ("continuing_task", False),
            ("reset_target", False),
            ("include_cfrc_ext_in_observation", False),
        ),
        max_episode_steps=_steps,
        reward_scale=10.0,
        reward_bias=-5.0,
        sparse=True,
        metric="normalized_return",
        ref_min_score=0.0,
        ref_max_score=1.0,
        d4rl_name=f"{_name}-v0" if "ultra" in _name else f"{_name}-v2",
        minari_id=_minari,
        behaviour="random-starts",
        obs_dim=29,
        action_dim=8,
    )

# --- kitchen: gymnasium-robotics FrankaKitchen-v1 ----------------------------------------------
# Tasks as D4RL registers them (d4rl/kitchen/__init__.py): partial and complete use
# KitchenMicrowaveKettleLightSliderV0, mixed uses KitchenMicrowaveKettleBottomBurnerLightV0.
# Raw reward = number of the four subtasks solved so far in the episode (0..4); the episode
# ends when all four are solved. Reference scores are D4RL's (0 / 4).
# Observation = the env's 59-dim "observation": robot qpos (9), robot qvel (9), object qpos
# (21), object qvel (20), the layout of Minari's D4RL/kitchen datasets. D4RL's 60-dim
# observation is robot qpos (9), object qpos (21), then the task's constant 30-dim goal vector:
# d4rl[0:9] = ours[0:9], d4rl[9:30] = ours[18:39]; d4rl[30:60] is constant per task and has no
# counterpart; our velocities have none in D4RL.
# sparse=False follows the authors' code, which does not apply the all-failure Monte-Carlo
# rule to kitchen (only antmaze, adroit-binary and maze tasks count as sparse there).
# The data are human teleoperation ("complete" holds only full-task demos, "partial" and
# "mixed" mix full and partial ones), which nothing local can reproduce: the generator's
# stand-in is uniform random actions.
_KITCHEN_SLIDER = ("microwave", "kettle", "light switch", "slide cabinet")
_KITCHEN_BURNER = ("microwave", "kettle", "bottom burner", "light switch")
_KITCHEN = {
    "kitchen-complete": _KITCHEN_SLIDER,
    "kitchen-partial": _KITCHEN_SLIDER,
    "kitchen-mixed": _KITCHEN_BURNER,
}

for _name, _subtasks in _KITCHEN.items():
    _register(
        name=_name,
        domain="kitchen",
        env_id="FrankaKitchen-v1",
        env_kwargs=(("tasks_to_complete", _subtasks),),
        max_episode_steps=280,
        reward_scale=1.0,
        reward_bias=-4.0,
        sparse=False,
        metric="kitchen_final",
        ref_min_score=0.0,
        ref_max_score=4.0,
        d4rl_name=f"{_name}-v0",
        minari_id=f"D4RL/kitchen/{_name.removeprefix('kitchen-')}-v2",
        behaviour="random",
        obs_dim=59,
        action_dim=9,
    )

# --- adroit binary: gymnasium-robotics AdroitHand*Sparse-v1 ------------------------------------
# Raw reward rewritten to 0 at a step where info["success"] holds, -1 otherwise (the binary
# datasets of Nair et al. 2020 / Cal-QL); the episode ends on success (the authors'
# AdroitTerminalWrapper). Pen episodes are 100 steps as in the binary datasets (the gymnasium
# registration says 200). Scores are success rates, so the reference points are 0 / 1.
# Minari has no binary release; minari_id points at the human demonstrations the binary
# datasets start from (their rewards must be relabelled from infos["success"]).
# The binary datasets hold human demonstrations plus behaviour-cloned rollouts, which nothing
# local can reproduce: the generator's stand-in is uniform random actions.
_ADROIT = {
    # name: (env_id, max_episode_steps, obs_dim, action_dim)
    "pen-binary": ("AdroitHandPenSparse-v1", 100, 45, 24),
    "door-binary": ("AdroitHandDoorSparse-v1", 200, 39, 28),
    "relocate-binary": ("AdroitHandRelocateSparse-v1", 200, 39, 30),
}

for _name, (_env_id, _steps, _obs, _act) in _ADROIT.items():
    _register(
        name=_name,
        domain="adroit",
        env_id=_env_id,
        env_kwargs=(),
        max_episode_steps=_steps,
        reward_scale=10.0,
        reward_bias=5.0,
        sparse=True,
        metric="success_rate",
        ref_min_score=0.0,
        ref_max_score=1.0,
        d4rl_name=f"{_name}-v0",
        minari_id=f"D4RL/{_name.removesuffix('-binary')}/human-v2",
        behaviour="random",
        obs_dim=_obs,
        action_dim=_act,
    )

# --- pointmaze: gymnasium-robotics PointMaze v3 (D4RL maze2d) ------------------------------------
# Not in the WSRL paper; a cheap sparse goal-reaching sanity task. Observation = the env's
# observation (x, y, vx, vy) then desired_goal (x, y): the goal is random per episode, so the
# agent must see it (maze2d's goal-conditioned use). Sparse 0/1 reward, continuing_task=False
# ends the episode on success, so an episode's return is 0 or 1 and D4RL's maze2d reference
# returns (which assume the never-ending maze2d task accumulating reward in the goal) do not
# apply: 0 / 1 instead, the normalized return is the success rate.
# Reward x1 -1 turns 0/1 into -1 per unsolved step and 0 at the goal, the step-penalty
# convention of IQL's antmaze: Q-values stay in [-1/(1-gamma), 0], the all-failure
# Monte-Carlo return is exactly the floor -1/(1-gamma), and the penalty favours short paths.
# The maze_map given is the env's own default layout (torchrl_wsrl.envs.mazes), passed
# explicitly so that the data code reasons about the very map the env builds.
# Behaviour: D4RL's maze2d controller (waypoints to the goal cell, PD control, action noise).
_POINTMAZE = {
    # name: (env_id, layout, max_episode_steps as D4RL maze2d, d4rl_name, minari_id)
    "pointmaze-umaze": (
        "PointMaze_UMaze-v3", POINTMAZE_UMAZE, 300, "maze2d-umaze-v1", "D4RL/pointmaze/umaze-v2"
    ),
    "pointmaze-medium": (
        "PointMaze_Medium-v3",
        POINTMAZE_MEDIUM,
        600,
        "maze2d-medium-v1",
        "D4RL/pointmaze/medium-v2",
    ),
    "pointmaze-large": (
        "PointMaze_Large-v3", POINTMAZE_LARGE, 800, "maze2d-large-v1", "D4RL/pointmaze/large-v2"
    ),
}

for _name, (_env_id, _map, _steps, _d4rl, _minari) in _POINTMAZE.items():
    _register(
        name=_name,
        domain="pointmaze",
        env_id=_env_id,
        env_kwargs=(("maze_map", _map), ("continuing_task", False), ("reset_target", False)),
        max_episode_steps=_steps,
        reward_scale=1.0,
        reward_bias=-1.0,
        sparse=True,
        metric="normalized_return",
        ref_min_score=0.0,
        ref_max_score=1.0,
        d4rl_name=_d4rl,
        minari_id=_minari,
        behaviour="waypoint",
        obs_dim=6,
        action_dim=2,
    )


def list_tasks() -> list[str]:
    """All registered task names, sorted."""
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """The registered :class:`Task` called ``name``.

    Raises:
        KeyError: unknown name; the message lists the closest registered names (or all of them).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"closest: {close}" if close else f"known tasks: {list_tasks()}"
        raise KeyError(f"Unknown task {name!r}; {hint}") from None
