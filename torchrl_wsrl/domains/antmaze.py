"""AntMaze: gymnasium-robotics AntMaze v5 with D4RL's evaluation mazes (WSRL paper's antmaze).

Observation: ``achieved_goal`` (ant x, y) then the env's 27-dim ``observation`` (qpos[2:15],
qvel[0:14]); that is D4RL's 29-dim qpos + qvel. ``include_cfrc_ext_in_observation=False`` drops
Ant-v5's 78 contact-force entries, which D4RL's ant never had. ``continuing_task=False`` ends the
episode on success (distance to goal <= 0.45; D4RL used 0.5). The ``maze_map`` gives D4RL's
single evaluation start and goal (:mod:`torchrl_wsrl.domains.mazes`). The ant is gymnasium's
Ant-v5 model and the world frame is gymnasium-robotics', so D4RL's own HDF5 files do not match
this env; Minari's D4RL/antmaze re-release was collected on the gymnasium-robotics AntMaze and
does (its rewards relabelled against the task's goal cell, as D4RL relabelled its antmaze data
against the evaluation goal). Reward 0/1 at the goal, ``r * 10 - 5`` for the agent.

Behaviour: no scripted controller can walk the ant, so the generator's stand-in is uniform
random actions from uniformly drawn open cells (``random-starts``): it covers the maze, goal
included, but never navigates (D4RL's data come from a goal-reaching ant policy).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from torchrl_wsrl.domains.base import Domain, Layout, StepRules, Task, concat_keys, info_success
from torchrl_wsrl.domains.mazes import (
    ANTMAZE_LARGE_EVAL, ANTMAZE_MEDIUM_EVAL, ANTMAZE_ULTRA_EVAL, ANTMAZE_UMAZE_EVAL, MAZE_SIZE_SCALING,
    cell_to_xy, goal_cell, goal_reached,
)

__all__ = ["DOMAIN"]

MAZES = {
    # name: (env_id, eval map, max_episode_steps, minari_id)
    "antmaze-umaze": ("AntMaze_UMaze-v5", ANTMAZE_UMAZE_EVAL, 700, "D4RL/antmaze/umaze-v1"),
    "antmaze-umaze-diverse": ("AntMaze_UMaze-v5", ANTMAZE_UMAZE_EVAL, 700, "D4RL/antmaze/umaze-diverse-v1"),
    "antmaze-medium-play": ("AntMaze_Medium_Diverse_GR-v5", ANTMAZE_MEDIUM_EVAL, 1000, "D4RL/antmaze/medium-play-v1"),
    "antmaze-medium-diverse": ("AntMaze_Medium_Diverse_GR-v5", ANTMAZE_MEDIUM_EVAL, 1000, "D4RL/antmaze/medium-diverse-v1"),
    "antmaze-large-play": ("AntMaze_Large_Diverse_GR-v5", ANTMAZE_LARGE_EVAL, 1000, "D4RL/antmaze/large-play-v1"),
    "antmaze-large-diverse": ("AntMaze_Large_Diverse_GR-v5", ANTMAZE_LARGE_EVAL, 1000, "D4RL/antmaze/large-diverse-v1"),
    # The 12 x 16 ultra maze: same ant, bigger map. Its registration in d4rl_ext uses
    # max_episode_steps=2000, kept here; no Minari re-release exists.
    "antmaze-ultra-play": ("AntMaze_Large_Diverse_GR-v5", ANTMAZE_ULTRA_EVAL, 2000, None),
    "antmaze-ultra-diverse": ("AntMaze_Large_Diverse_GR-v5", ANTMAZE_ULTRA_EVAL, 2000, None),
}


def goal_centre(task: Task) -> np.ndarray:
    """World ``(x, y)`` of the centre of the task's goal cell (the env adds up to +-1 m of noise
    per episode), float64 ``[2]``."""
    maze_map = dict(task.env_kwargs)["maze_map"]
    return cell_to_xy(maze_map, goal_cell(maze_map), MAZE_SIZE_SCALING["antmaze"])


class AntMaze(Domain):
    name = "antmaze"
    task_fields = dict(
        reward_scale=10.0, reward_bias=-5.0, sparse=True, metric="normalized_return", ref_min_score=0.0, ref_max_score=1.0,
        behaviour="random-starts", obs_dim=29, action_dim=8,
    )
    observation_keys = ("achieved_goal", "observation")  # D4RL's qpos + qvel, the ant's x, y first
    failure_reward = 0.0
    paper_networks = ((256, 256, 256, 256), (256, 256))
    d4rl_release_usable = False
    scripted_behaviours = ("random-starts",)

    def step_rules(self, task: Task) -> StepRules:
        """The env's sparse 0/1 reward and ``info["success"]`` already match the task."""
        return StepRules(info_success)

    def minari_layout(self, task: Task) -> Layout:
        """``achieved_goal`` + ``observation``; reward and termination at the task's goal cell."""
        centre = goal_centre(task)

        def goal(arrays: dict[str, Any]) -> np.ndarray:
            return centre

        return Layout(goal_reached(goal), concat_keys(self.observation_keys))

    def d4rl_refusal(self, task: Task, width: int) -> str:
        return (
            f"taken to be D4RL's antmaze data ({width} features, no root attribute "
            f"env_id={task.env_id!r}), which cannot be mapped onto gymnasium-robotics' AntMaze: "
            "D4RL's maze frame is the mirror image of the env's (y grows with the maze row "
            "there, shrinks here), so every trajectory would need the ant mirrored, and D4RL's "
            "ant is another robot (0.1 s control step and torques up to 30 against 0.05 s and "
            f"150). If the file does hold observations of {task.env_id} (achieved_goal then "
            f"observation), set its root attribute env_id={task.env_id!r}."
        )


def _task(name: str) -> Task:
    env_id, maze_map, steps, minari_id = MAZES[name]
    env_kwargs = (("maze_map", maze_map), ("continuing_task", False), ("reset_target", False), ("include_cfrc_ext_in_observation", False))
    return AntMaze.task(
        name=name, env_id=env_id, env_kwargs=env_kwargs, max_episode_steps=steps,
        d4rl_name=f"{name}-v0" if "ultra" in name else f"{name}-v2", minari_id=minari_id,
    )


AntMaze.tasks = tuple(_task(name) for name in MAZES)
DOMAIN = AntMaze()
