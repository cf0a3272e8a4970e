"""How each data source maps onto a task's env: observation layout, reward and termination.

The readers take two hooks: ``relabel`` (arrays as read -> the task's reward, termination,
action and frame conventions) and then ``obs_transform`` (observations -> the env's flat
layout). This module builds the pair, a :class:`Layout`, for every domain and source format, so
that what the agent trains on is what the task's env (:mod:`torchrl_wsrl.envs.factory`) would
have produced:

==========  ==========================================  ============================================
domain      D4RL-format HDF5 file                       local Minari dataset
==========  ==========================================  ============================================
locomotion  as is (gym v2 and gymnasium v5 share the    as is
            observation layout)
antmaze     refused (D4RL's frame is the mirror image   ``achieved_goal`` + ``observation``; reward
            of the env's and its ant differs)           and termination at the task's goal cell
kitchen     60 features: refused (no velocities);       ``observation``; reward = subtasks solved
            59: as is                                   so far in the episode
adroit      as is; reward -1/0 from ``infos/            as is; reward -1/0 from ``infos["success"]``
            goal_achieved`` (or already binary)
pointmaze   4 features (maze2d): rotated into the       ``observation`` + ``desired_goal``; reward
            env's frame, goal from ``infos/goal``       and termination recomputed at 0.45 m
==========  ==========================================  ============================================

A file whose root attribute ``env_id`` names the task's env (every file the generator writes)
holds transitions of that very env and is read as is. Goal-reaching domains follow the env's
rule that a step reaching the goal ends the episode: such a step is marked terminal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from torchrl_wsrl.data.minari_reader import minari_dataset_path
from torchrl_wsrl.data.transitions import DatasetError, Relabel
from torchrl_wsrl.envs import Task
from torchrl_wsrl.envs.mazes import MAZE_SIZE_SCALING, MazeMap, cell_to_xy, goal_cell

__all__ = ["Layout", "d4rl_layout", "minari_layout", "GOAL_RADIUS", "MAZE2D_QPOS_OFFSET"]

# gymnasium-robotics' maze success distance, in metres (D4RL's maze2d and antmaze used 0.5).
GOAL_RADIUS = 0.45
# D4RL's maze2d puts the point's body at (1.2, 1.2) and the wall of cell (i, j) at (i + 1, j + 1)
# (d4rl/pointmaze/maze_model.py), so qpos + 0.2 is the point's position in cell units.
MAZE2D_QPOS_OFFSET = 0.2
# D4RL kitchen observation: robot qpos (9), object qpos (21), the task's goal vector (30).
D4RL_KITCHEN_WIDTH = 60
# D4RL maze2d observation: qpos (2), qvel (2).
D4RL_MAZE2D_WIDTH = 4


@dataclass(frozen=True)
class Layout:
    """The reader hooks that bring one source's data into a task's env layout.

    Attributes:
        relabel: see :func:`~torchrl_wsrl.data.transitions.apply_relabel`; ``None``: as read.
        obs_transform: raw observations (arrays or dicts of arrays) -> ``[N, obs_dim]``.
    """

    relabel: Relabel | None = None
    obs_transform: Callable[[Any], np.ndarray] | None = None

    def reader_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~torchrl_wsrl.data.load_d4rl_hdf5` / ``load_minari``."""
        return {"relabel": self.relabel, "obs_transform": self.obs_transform}


# --- the pieces -----------------------------------------------------------------------------
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


def goal_reached(goal_xy: Callable[[dict[str, Any]], np.ndarray]) -> Relabel:
    """Sparse 0/1 reward, 1 and terminal where the next position lies within :data:`GOAL_RADIUS`
    of the goal: the rule of gymnasium-robotics' mazes with ``continuing_task=False``.

    Args:
        goal_xy: the ``[N, 2]`` or ``[2]`` goal given the arrays; the next position is
            ``next_observations["achieved_goal"]``.
    """

    def relabel(arrays):
        next_xy = np.asarray(arrays["next_observations"]["achieved_goal"])
        success = np.linalg.norm(next_xy - goal_xy(arrays), axis=-1) <= GOAL_RADIUS
        return {**arrays, "rewards": success.astype(np.float64), "terminals": success}

    return relabel


def own_goal(arrays: dict[str, Any]) -> np.ndarray:
    """The goal each transition pursued: ``next_observations["desired_goal"]`` (the env writes
    the goal of the step into the observation before it draws a new one)."""
    return np.asarray(arrays["next_observations"]["desired_goal"])


def adroit_binary(success_info: str) -> Relabel:
    """Adroit's binary reward: 0 at a step that solves the task, -1 otherwise, and terminal there
    (the env's ``adroit_binary_reward`` and ``GoalTaskWrapper``).

    Success comes from ``infos[success_info]`` when the source recorded it; rewards that are
    already -1/0 (the binary datasets of Nair et al. 2020) are read as the success flag.

    Raises:
        DatasetError: dense rewards and no ``infos[success_info]`` to relabel them from.
    """

    def relabel(arrays):
        rewards = np.asarray(arrays["rewards"], dtype=np.float64).reshape(-1)
        infos = arrays["infos"]
        if success_info in infos:
            success = np.asarray(infos[success_info]).reshape(len(rewards)).astype(bool)
        elif np.isin(rewards, (-1.0, 0.0)).all():
            success = rewards == 0.0
        else:
            raise DatasetError(
                f"Adroit rewards are dense (from {rewards.min():.3g} to {rewards.max():.3g}) and "
                f"there is no infos {success_info!r} to relabel them to the binary -1/0 reward "
                f"(infos present: {sorted(infos)})"
            )
        return {
            **arrays,
            "rewards": np.where(success, 0.0, -1.0),
            "terminals": np.logical_or(np.asarray(arrays["terminals"]).reshape(-1), success),
        }

    return relabel


def kitchen_solved_count(num_subtasks: int) -> Relabel:
    """Kitchen reward = subtasks solved so far in the episode, from FrankaKitchen-v1's per-step
    reward (subtasks solved at this step); a step with all of them solved is terminal (the env's
    ``kitchen_solved_count`` and ``kitchen_all_solved``).

    Raises:
        DatasetError: an episode sums to more than ``num_subtasks`` (rewards that are running
            counts already, or subtasks counted twice).
    """

    def relabel(arrays):
        rewards = np.asarray(arrays["rewards"], dtype=np.float64).reshape(-1)
        ends = episode_ends(arrays)
        total = np.cumsum(rewards)
        total_before = np.concatenate(([0.0], total[ends]))
        counts = total - total_before[np.cumsum(ends) - ends]
        if counts.max() > num_subtasks + 1e-6:
            raise DatasetError(
                f"kitchen rewards sum to {counts.max():g} within an episode, more than the "
                f"{num_subtasks} subtasks: expected FrankaKitchen-v1's per-step reward (subtasks "
                "solved at that step)"
            )
        return {
            **arrays,
            "rewards": counts,
            "terminals": np.logical_or(
                np.asarray(arrays["terminals"]).reshape(-1), counts >= num_subtasks - 1e-6
            ),
        }

    return relabel


def maze2d_to_gymnasium(maze_map: MazeMap) -> Relabel:
    """D4RL maze2d arrays -> gymnasium-robotics PointMaze dict observations and actions.

    D4RL's maze2d (``d4rl/pointmaze/maze_model.py``) observes ``qpos, qvel`` with the first axis
    along the maze rows and the second along the columns, cell ``(i, j)`` at ``qpos = (i, j) -
    0.2``; gymnasium-robotics' frame has x along the columns and y against the rows, cell
    centres from :func:`~torchrl_wsrl.envs.mazes.cell_to_xy`. The map is a proper rotation by
    -90 degrees plus a shift: ``x = q1 + 0.2 + 0.5 - n_cols / 2``, ``y = n_rows / 2 - 0.5 - (q0 +
    0.2)``; velocities and actions (forces along the same slide joints) rotate alike. The point
    mass, its actuators (gear 100), the 0.01 s step and the velocity clip at 5 are the same in
    both libraries, so the transitions are the env's.

    Observations become ``{"observation": (x, y, vx, vy), "achieved_goal": (x, y),
    "desired_goal": goal}`` with the goal from ``infos["goal"]`` (maze2d's ``infos/goal``).

    Raises:
        DatasetError: no ``infos/goal`` in the file.
    """
    n_rows, n_cols = len(maze_map), len(maze_map[0])

    def position(qpos):
        row, col = qpos[:, 0] + MAZE2D_QPOS_OFFSET, qpos[:, 1] + MAZE2D_QPOS_OFFSET
        return np.stack((col + 0.5 - n_cols / 2, n_rows / 2 - 0.5 - row), axis=-1)

    def direction(vector):
        return np.stack((vector[:, 1], -vector[:, 0]), axis=-1)

    def relabel(arrays):
        if "goal" not in arrays["infos"]:
            raise DatasetError(
                "a 4-feature maze2d file needs infos/goal (the goal of every step) to build "
                f"the goal-conditioned observation; infos present: {sorted(arrays['infos'])}"
            )
        goal = position(np.asarray(arrays["infos"]["goal"], dtype=np.float64))

        def observation(raw):
            raw = np.asarray(raw, dtype=np.float64)
            xy = position(raw[:, :2])
            return {
                "observation": np.concatenate((xy, direction(raw[:, 2:4])), axis=-1),
                "achieved_goal": xy,
                "desired_goal": goal,
            }

        return {
            **arrays,
            "observations": observation(arrays["observations"]),
            "next_observations": observation(arrays["next_observations"]),
            "actions": direction(np.asarray(arrays["actions"], dtype=np.float64)),
        }

    return relabel


def _antmaze_goal(task: Task) -> Callable[[dict[str, Any]], np.ndarray]:
    """The centre of the task's goal cell (the env adds up to +-1 m of noise per episode)."""
    maze_map = dict(task.env_kwargs)["maze_map"]
    centre = cell_to_xy(maze_map, goal_cell(maze_map), MAZE_SIZE_SCALING["antmaze"])
    return lambda arrays: centre


# --- per source format ----------------------------------------------------------------------
def minari_layout(task: Task) -> Layout:
    """The :class:`Layout` of the Minari datasets of ``task``'s domain.

    - locomotion (``mujoco/<env>/<level>-v0``): as is.
    - antmaze (``D4RL/antmaze/*-v1``, collected on gymnasium-robotics' AntMaze with goals that
      change per episode): observation = ``achieved_goal`` + ``observation``; reward and
      termination relabelled against the task's goal cell, as D4RL relabelled its antmaze data
      against the evaluation goal.
    - pointmaze (``D4RL/pointmaze/*-v2``): observation = ``observation`` + ``desired_goal``;
      reward and termination recomputed from the next position and the step's goal.
    - kitchen (``D4RL/kitchen/*-v2``): observation = ``observation``; per-step rewards summed
      into the running count the env returns.
    - adroit (``D4RL/<pen|door|relocate>/human-v2``): rewards relabelled -1/0 from
      ``infos["success"]``.
    """
    if task.domain == "antmaze":
        return Layout(
            goal_reached(_antmaze_goal(task)), concat_keys(("achieved_goal", "observation"))
        )
    if task.domain == "pointmaze":
        return Layout(goal_reached(own_goal), concat_keys(("observation", "desired_goal")))
    if task.domain == "kitchen":
        num_subtasks = len(dict(task.env_kwargs)["tasks_to_complete"])
        return Layout(kitchen_solved_count(num_subtasks), concat_keys(("observation",)))
    if task.domain == "adroit":
        return Layout(adroit_binary("success"))
    return Layout()


def d4rl_layout(task: Task, path: str | os.PathLike) -> Layout:
    """The :class:`Layout` of the D4RL-format file at ``path`` for ``task``, told apart by the
    file's observation width and its root attribute ``env_id``.

    Raises:
        DatasetError: a D4RL layout with no faithful mapping onto the task's env (antmaze,
            60-feature kitchen); the message says why and where to put the Minari release.
        FileNotFoundError: no file at ``path``.
    """
    path = Path(path)
    width, env_id = _peek(path)
    if width is None or env_id == task.env_id:
        return Layout()  # the env's own layout, or a file the reader will reject
    if task.domain == "antmaze":
        raise DatasetError(
            f"{path}: taken to be D4RL's antmaze data ({width} features, no root attribute "
            f"env_id={task.env_id!r}), which cannot be mapped onto gymnasium-robotics' AntMaze: "
            "D4RL's maze frame is the mirror image of the env's (y grows with the maze row "
            "there, shrinks here), so every trajectory would need the ant mirrored, and D4RL's "
            "ant is another robot (0.1 s control step and torques up to 30 against 0.05 s and "
            f"150). {_minari_hint(task)} If the file does hold observations of {task.env_id} "
            f"(achieved_goal then observation), set its root attribute env_id={task.env_id!r}."
        )
    if task.domain == "kitchen" and width == D4RL_KITCHEN_WIDTH:
        raise DatasetError(
            f"{path}: D4RL's kitchen layout ({width} features: robot qpos, object qpos, the "
            "task's goal vector) has no velocities, which the env's 59-feature observation "
            f"(robot qpos, robot qvel, object qpos, object qvel) needs. {_minari_hint(task)}"
        )
    if task.domain == "adroit":
        return Layout(adroit_binary("goal_achieved"))
    if task.domain == "pointmaze" and width == D4RL_MAZE2D_WIDTH:
        maze_map = dict(task.env_kwargs)["maze_map"]
        return Layout(
            compose(maze2d_to_gymnasium(maze_map), goal_reached(own_goal)),
            concat_keys(("observation", "desired_goal")),
        )
    return Layout()


def _peek(path: Path) -> tuple[int | None, str | None]:
    """The file's observation width (None if unreadable) and its root attribute ``env_id``."""
    if not path.is_file():
        raise FileNotFoundError(f"No D4RL HDF5 file at {path}")
    try:
        with h5py.File(path, "r") as file:
            observations = file.get("observations")
            width = observations.shape[-1] if isinstance(observations, h5py.Dataset) else None
            env_id = file.attrs.get("env_id")
    except OSError:
        return None, None  # the reader reports what is wrong with the file
    if isinstance(env_id, bytes):
        env_id = env_id.decode()
    return width, env_id


def _minari_hint(task: Task) -> str:
    generate = f"python -m torchrl_wsrl.data.generate --task {task.name}"
    if task.minari_id is None:
        return f"No Minari release exists for this task; generate stand-in data: {generate}"
    return (
        f"Use the Minari release {task.minari_id!r}, collected on the env: put it at "
        f"{minari_dataset_path(task.minari_id)}, or generate stand-in data: {generate}."
    )
