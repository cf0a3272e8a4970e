"""Scripted behaviours of the data generator: a maze waypoint controller and random start cells."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from torchrl_wsrl.domains.mazes import MazeMap, cell_to_xy, open_cells, steps_to_cell, xy_to_cell

__all__ = ["WaypointController", "RandomStartCell"]


class WaypointController(TensorDictModuleBase):
    """D4RL maze2d's data-collection controller, for gymnasium-robotics' PointMaze.

    Reads ``"observation"`` ``[*B, 6]`` = ``(x, y, vx, vy, goal_x, goal_y)`` (metres, m/s; the
    pointmaze tasks' layout) and writes ``"action"`` ``[*B, 2]`` in ``[-1, 1]``. At every step
    the target is the centre of the open neighbour cell one breadth-first-search step closer to
    the goal's cell, or the goal itself once in the goal's cell; then ``action = clip(p_gain *
    (target - position) - d_gain * velocity + noise_std * N(0, 1), -1, 1)``.

    Source: D4RL's ``d4rl/pointmaze/waypoint_controller.py`` (gains 10 and 1) and
    ``scripts/generation/generate_maze2d_datasets.py`` (``--noisy``: Gaussian action noise of
    standard deviation 0.5). D4RL plans a waypoint list by Q-iteration and follows it with
    memory; this controller replans from the current cell at every step, so the behaviour
    policy is Markovian in the observation and the path is a shortest one all the same.

    Args:
        maze_map: the task's layout (``dict(task.env_kwargs)["maze_map"]``).
        scaling: the side of one cell in metres.
        p_gain, d_gain: proportional gain on the position error, damping gain on the velocity.
        noise_std: standard deviation of the Gaussian action noise (0: deterministic).
        seed: seeds the noise.
    """

    in_keys = ["observation"]
    out_keys = ["action"]

    def __init__(
        self,
        maze_map: MazeMap,
        *,
        scaling: float = 1.0,
        p_gain: float = 10.0,
        d_gain: float = 1.0,
        noise_std: float = 0.5,
        seed: int | None = None,
    ):
        super().__init__()
        self.maze_map = maze_map
        self.scaling = scaling
        self.p_gain, self.d_gain, self.noise_std = p_gain, d_gain, noise_std
        self.rng = np.random.default_rng(seed)
        self._steps_to: dict[tuple[int, int], np.ndarray] = {}

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        observation = tensordict["observation"]
        rows = observation.reshape(-1, observation.shape[-1]).cpu().double().numpy()
        actions = np.stack([self.action(row[0:2], row[2:4], row[4:6]) for row in rows])
        action = torch.as_tensor(actions, dtype=observation.dtype, device=observation.device)
        tensordict.set("action", action.reshape(*observation.shape[:-1], 2))
        return tensordict

    def action(self, position: np.ndarray, velocity: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The ``[2]`` action at one state (float64 arrays of shape ``[2]``)."""
        target = self.target(position, goal)
        action = self.p_gain * (target - position) - self.d_gain * velocity
        action = action + self.noise_std * self.rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0)

    def target(self, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Where to head now: the next cell's centre on a shortest path, or the goal."""
        cell = xy_to_cell(self.maze_map, position, self.scaling)
        goal_cell = xy_to_cell(self.maze_map, goal, self.scaling)
        steps = self._steps_to.get(goal_cell)
        if steps is None:
            steps = self._steps_to[goal_cell] = steps_to_cell(self.maze_map, goal_cell)
        if cell == goal_cell or not np.isfinite(steps[cell]):
            return goal
        row, col = cell
        neighbours = ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
        closer = min(neighbours, key=lambda neighbour: steps[neighbour])
        return cell_to_xy(self.maze_map, closer, self.scaling)


class RandomStartCell(gym.Wrapper):
    """Resets a gymnasium-robotics maze env in a uniformly drawn cell of ``cells``.

    The draw uses the env's own seeded ``np_random``; the env adds its usual position noise
    within the cell. Passes the ``reset_cell`` option of gymnasium-robotics' ``MazeEnv.reset``.

    Args:
        env: a (wrapped) gymnasium-robotics maze env.
        cells: ``(row, col)`` cells to start from; default: every open cell of the env's maze.
    """

    def __init__(self, env: gym.Env, cells: Sequence[tuple[int, int]] | None = None):
        super().__init__(env)
        self.cells = list(cells) if cells is not None else open_cells(env.unwrapped.maze.maze_map)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.env.reset(seed=seed)
        cell = self.cells[self.np_random.integers(len(self.cells))]
        return self.env.reset(options={**(options or {}), "reset_cell": np.array(cell)})
