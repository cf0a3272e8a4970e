"""Maze layouts of the maze tasks, as gymnasium-robotics ``maze_map`` values, and grid geometry.

1 is a wall, 0 free floor, ``"r"`` the start cell and ``"g"`` the goal cell. With exactly one
``"r"`` and one ``"g"`` the gymnasium-robotics maze starts the ant in the ``"r"`` cell and puts
the goal in the ``"g"`` cell (each with its uniform +-0.25 cell noise), which is D4RL's
antmaze evaluation protocol: one fixed start and one fixed goal per maze, whatever dataset
(play or diverse) trained the agent.

Sources: ``U_MAZE_TEST``, ``BIG_MAZE_TEST`` and ``HARDEST_MAZE_TEST`` in D4RL's
``d4rl/locomotion/maze_env.py`` (the maps its ``antmaze-*-v2`` envs are registered with), and
``ULTRA_MAZE_TEST`` in the ``d4rl_ext`` package that registers ``antmaze-ultra-{diverse,play}-v0``
(Jiang et al. 2023, "Efficient Planning in a Compact Latent Action Space"; the same 12 x 16
layout appears in two independent copies of that package). Rows and columns are the same in
both libraries; only the world frame differs (D4RL: origin at the start cell, y grows with the
row; gymnasium-robotics: origin at the maze centre, y shrinks with the row).

The point-maze layouts are gymnasium-robotics' ``U_MAZE``, ``MEDIUM_MAZE`` and ``LARGE_MAZE``
(``gymnasium_robotics/envs/maze/maps.py``), which are D4RL's maze2d ``U_MAZE``, ``MEDIUM_MAZE`` and
``LARGE_MAZE`` (``d4rl/pointmaze/maze_model.py``) with ``#`` as 1 and open cells as 0. Without an
``"r"`` or ``"g"`` cell, start and goal are drawn among all open cells at every reset.

Tuples, not lists, so that a :class:`~torchrl_wsrl.domains.Task` holding them stays
hashable and immutable.

The goal rule of both maze domains lives here too (:func:`goal_reached`): the env's
``info["success"]`` and the relabelling of offline data agree on :data:`GOAL_RADIUS`.

Geometry (gymnasium-robotics ``Maze.cell_rowcol_to_xy``): cell ``(row, col)`` of a map with
``n_rows x n_cols`` cells of side ``scaling`` has its centre at
``x = (col + 0.5) * scaling - n_cols * scaling / 2``, ``y = n_rows * scaling / 2 - (row + 0.5) *
scaling``: the origin is the maze centre and y shrinks as the row grows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from torchrl_wsrl.domains.base import Relabel

R, G = "r", "g"

# Side of one maze cell in metres: the gymnasium-robotics defaults of AntMaze and PointMaze.
MAZE_SIZE_SCALING = {"antmaze": 4.0, "pointmaze": 1.0}

MazeMap = Sequence[Sequence[int | str]]

# gymnasium-robotics' maze success distance, in metres (D4RL's maze2d and antmaze used 0.5).
GOAL_RADIUS = 0.45

ANTMAZE_UMAZE_EVAL = (
    (1, 1, 1, 1, 1),
    (1, R, 0, 0, 1),
    (1, 1, 1, 0, 1),
    (1, G, 0, 0, 1),
    (1, 1, 1, 1, 1),
)

ANTMAZE_MEDIUM_EVAL = (
    (1, 1, 1, 1, 1, 1, 1, 1),
    (1, R, 0, 1, 1, 0, 0, 1),
    (1, 0, 0, 1, 0, 0, 0, 1),
    (1, 1, 0, 0, 0, 1, 1, 1),
    (1, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 1, 0, 0, 1, 0, 1),
    (1, 0, 0, 0, 1, 0, G, 1),
    (1, 1, 1, 1, 1, 1, 1, 1),
)

ANTMAZE_LARGE_EVAL = (
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (1, R, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1),
    (1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1),
    (1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1),
    (1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1),
    (1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1),
    (1, 0, 0, 1, 0, 0, 0, 1, 0, G, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
)

ANTMAZE_ULTRA_EVAL = (
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (1, R, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1),
    (1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1),
    (1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1),
    (1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1),
    (1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    (1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1, 1),
    (1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1),
    (1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1),
    (1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1),
    (1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, G, 1),
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
)

POINTMAZE_UMAZE = (
    (1, 1, 1, 1, 1),
    (1, 0, 0, 0, 1),
    (1, 1, 1, 0, 1),
    (1, 0, 0, 0, 1),
    (1, 1, 1, 1, 1),
)

POINTMAZE_MEDIUM = (
    (1, 1, 1, 1, 1, 1, 1, 1),
    (1, 0, 0, 1, 1, 0, 0, 1),
    (1, 0, 0, 1, 0, 0, 0, 1),
    (1, 1, 0, 0, 0, 1, 1, 1),
    (1, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 1, 0, 0, 1, 0, 1),
    (1, 0, 0, 0, 1, 0, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 1),
)

POINTMAZE_LARGE = (
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1),
    (1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1),
    (1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1),
    (1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1),
    (1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1),
    (1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
)


def open_cells(maze_map: MazeMap) -> list[tuple[int, int]]:
    """``(row, col)`` of every cell that is not a wall, in row-major order."""
    return [
        (row, col)
        for row, cells in enumerate(maze_map)
        for col, cell in enumerate(cells)
        if cell != 1
    ]


def goal_cell(maze_map: MazeMap) -> tuple[int, int]:
    """The single ``"g"`` cell of an evaluation layout.

    Raises:
        ValueError: the map has no ``"g"`` cell, or more than one.
    """
    goals = [
        (row, col)
        for row, cells in enumerate(maze_map)
        for col, cell in enumerate(cells)
        if cell == G
    ]
    if len(goals) != 1:
        raise ValueError(f"expected exactly one goal cell 'g' in the maze map, found {goals}")
    return goals[0]


def cell_to_xy(maze_map: MazeMap, cell: Sequence[int], scaling: float) -> np.ndarray:
    """World ``(x, y)`` of the centre of ``cell = (row, col)``, float64 ``[2]``."""
    n_rows, n_cols = len(maze_map), len(maze_map[0])
    row, col = cell
    return np.array(
        [(col + 0.5) * scaling - n_cols * scaling / 2, n_rows * scaling / 2 - (row + 0.5) * scaling]
    )


def xy_to_cell(maze_map: MazeMap, xy: Sequence[float], scaling: float) -> tuple[int, int]:
    """``(row, col)`` of the cell holding the world point ``xy``, clipped to the map."""
    n_rows, n_cols = len(maze_map), len(maze_map[0])
    row = int(np.floor(n_rows / 2 - xy[1] / scaling))
    col = int(np.floor(xy[0] / scaling + n_cols / 2))
    return min(max(row, 0), n_rows - 1), min(max(col, 0), n_cols - 1)


def steps_to_cell(maze_map: MazeMap, target: Sequence[int]) -> np.ndarray:
    """Breadth-first search from ``target`` over open cells, 4-connected.

    Returns:
        float ``[n_rows, n_cols]``: the number of cell-to-cell moves from each cell to
        ``target`` (0 at ``target``), ``inf`` for walls and cells that cannot reach it.
    """
    steps = np.full((len(maze_map), len(maze_map[0])), np.inf)
    steps[tuple(target)] = 0
    frontier = deque([tuple(target)])
    while frontier:
        row, col = frontier.popleft()
        for next_row, next_col in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            if (
                0 <= next_row < steps.shape[0]
                and 0 <= next_col < steps.shape[1]
                and maze_map[next_row][next_col] != 1
                and steps[next_row, next_col] == np.inf
            ):
                steps[next_row, next_col] = steps[row, col] + 1
                frontier.append((next_row, next_col))
    return steps


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

