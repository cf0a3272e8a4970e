"""PointMaze: gymnasium-robotics PointMaze v3 (D4RL's maze2d). Not in the WSRL paper; a cheap
sparse goal-reaching sanity task.

Observation = the env's ``observation`` (x, y, vx, vy) then ``desired_goal`` (x, y): the goal is
random per episode, so the agent must see it (maze2d's goal-conditioned use). Sparse 0/1
reward, ``continuing_task=False`` ends the episode on success, so an episode's return is 0 or 1
and D4RL's maze2d reference returns (which assume the never-ending maze2d task accumulating
reward in the goal) do not apply: 0 / 1 instead, the normalized return is the success rate.
Reward ``r * 1 - 1`` turns 0/1 into -1 per unsolved step and 0 at the goal, the step-penalty
convention of IQL's antmaze: Q-values stay in ``[-1/(1-gamma), 0]``, the all-failure
Monte-Carlo return is exactly the floor ``-1/(1-gamma)``, and the penalty favours short paths.
The ``maze_map`` given is the env's own default layout, passed explicitly so that the data code
reasons about the very map the env builds. Behaviour: D4RL's maze2d controller (waypoints to
the goal cell, PD control, action noise; :mod:`torchrl_wsrl.data.scripted`).
"""
from __future__ import annotations

import numpy as np

from torchrl_wsrl.domains.base import Domain, Layout, Relabel, StepRules, Task, compose, concat_keys, info_success
from torchrl_wsrl.domains.mazes import (
    POINTMAZE_LARGE, POINTMAZE_MEDIUM, POINTMAZE_UMAZE, MazeMap, goal_reached, own_goal,
)
from torchrl_wsrl.errors import DatasetError

__all__ = ["DOMAIN", "MAZE2D_QPOS_OFFSET", "maze2d_to_gymnasium"]

# D4RL's maze2d puts the point's body at (1.2, 1.2) and the wall of cell (i, j) at (i + 1, j + 1)
# (d4rl/pointmaze/maze_model.py), so qpos + 0.2 is the point's position in cell units.
MAZE2D_QPOS_OFFSET = 0.2
# D4RL maze2d observation: qpos (2), qvel (2).
D4RL_MAZE2D_WIDTH = 4

MAZES = {
    # name: (env_id, layout, max_episode_steps as D4RL maze2d, d4rl_name, minari_id)
    "pointmaze-umaze": ("PointMaze_UMaze-v3", POINTMAZE_UMAZE, 300, "maze2d-umaze-v1", "D4RL/pointmaze/umaze-v2"),
    "pointmaze-medium": ("PointMaze_Medium-v3", POINTMAZE_MEDIUM, 600, "maze2d-medium-v1", "D4RL/pointmaze/medium-v2"),
    "pointmaze-large": ("PointMaze_Large-v3", POINTMAZE_LARGE, 800, "maze2d-large-v1", "D4RL/pointmaze/large-v2"),
}


def maze2d_to_gymnasium(maze_map: MazeMap) -> Relabel:
    """D4RL maze2d arrays -> gymnasium-robotics PointMaze dict observations and actions.

    D4RL's maze2d (``d4rl/pointmaze/maze_model.py``) observes ``qpos, qvel`` with the first axis
    along the maze rows and the second along the columns, cell ``(i, j)`` at ``qpos = (i, j) -
    0.2``; gymnasium-robotics' frame has x along the columns and y against the rows, cell
    centres from :func:`~torchrl_wsrl.domains.mazes.cell_to_xy`. The map is a proper rotation by
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


class PointMaze(Domain):
    name = "pointmaze"
    task_fields = dict(
        reward_scale=1.0, reward_bias=-1.0, sparse=True, metric="normalized_return", ref_min_score=0.0, ref_max_score=1.0,
        behaviour="waypoint", obs_dim=6, action_dim=2,
    )
    observation_keys = ("observation", "desired_goal")
    failure_reward = 0.0
    paper_networks = ((256, 256), (256, 256))  # not in the paper: locomotion's sizes
    scripted_behaviours = ("random-starts", "waypoint")

    def step_rules(self, task: Task) -> StepRules:
        """The env's sparse 0/1 reward and ``info["success"]`` already match the task."""
        return StepRules(info_success)

    def minari_layout(self, task: Task) -> Layout:
        """``observation`` + ``desired_goal``; reward and termination recomputed from the next
        position and the step's goal."""
        return Layout(goal_reached(own_goal), concat_keys(self.observation_keys))

    def d4rl_layout(self, task: Task, width: int) -> Layout:
        """A 4-feature maze2d file: rotated into the env's frame, the goal from ``infos/goal``."""
        if width != D4RL_MAZE2D_WIDTH:
            return Layout()
        maze_map = dict(task.env_kwargs)["maze_map"]
        return Layout(compose(maze2d_to_gymnasium(maze_map), goal_reached(own_goal)), concat_keys(self.observation_keys))


def _task(name: str) -> Task:
    env_id, maze_map, steps, d4rl_name, minari_id = MAZES[name]
    env_kwargs = (("maze_map", maze_map), ("continuing_task", False), ("reset_target", False))
    return PointMaze.task(
        name=name, env_id=env_id, env_kwargs=env_kwargs, max_episode_steps=steps, d4rl_name=d4rl_name, minari_id=minari_id
    )


PointMaze.tasks = tuple(_task(name) for name in MAZES)
DOMAIN = PointMaze()
