"""Kitchen: gymnasium-robotics FrankaKitchen-v1 (patched for MuJoCo 4,
:mod:`torchrl_wsrl.envs.kitchen_patch`), the tasks as D4RL registers them
(``d4rl/kitchen/__init__.py``): partial and complete use KitchenMicrowaveKettleLightSliderV0,
mixed uses KitchenMicrowaveKettleBottomBurnerLightV0.

Raw reward = the number of the episode's four subtasks solved so far (0..4), ``r - 4`` for the
agent; the episode ends when all four are solved; the score is the final reward / 4 (the
authors' kitchen env). Reference scores are D4RL's (0 / 4). ``sparse=False`` follows the
authors' code, which does not apply the all-failure Monte-Carlo rule to kitchen.

Observation = the env's 59-dim ``observation``: robot qpos (9), robot qvel (9), object qpos (21),
object qvel (20), the layout of Minari's D4RL/kitchen datasets. D4RL's 60-dim observation is
robot qpos (9), object qpos (21), then the task's constant 30-dim goal vector: no velocities,
so D4RL's own files cannot be used. The data are human teleoperation, which nothing local can
reproduce: the generator's stand-in is uniform random actions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from torchrl_wsrl.domains.base import Domain, Layout, Relabel, StepRules, Task, concat_keys, episode_ends
from torchrl_wsrl.errors import DatasetError

__all__ = ["DOMAIN", "all_solved", "solved_count_relabel"]

SLIDER = ("microwave", "kettle", "light switch", "slide cabinet")
BURNER = ("microwave", "kettle", "bottom burner", "light switch")
SUBTASKS = {"kitchen-complete": SLIDER, "kitchen-partial": SLIDER, "kitchen-mixed": BURNER}
# D4RL kitchen observation: robot qpos (9), object qpos (21), the task's goal vector (30).
D4RL_KITCHEN_WIDTH = 60


def num_subtasks(task: Task) -> int:
    return len(dict(task.env_kwargs)["tasks_to_complete"])


def all_solved(solved: Any, subtasks: int) -> Any:
    """The kitchen's success rule, for one step or vectorised: all ``subtasks`` solved (the
    count is the kitchen reward, so this also ends the episode)."""
    return np.asarray(solved) >= subtasks - 1e-6


def _solved_so_far(info: dict[str, Any]) -> float:
    """The kitchen reward of one env step: subtasks solved so far in the episode. FrankaKitchen-v1
    rewards only those solved at this step; the running count is
    ``info["episode_task_completions"]``."""
    return float(len(info.get("episode_task_completions", ())))


def solved_count_relabel(subtasks: int) -> Relabel:
    """Kitchen reward = subtasks solved so far in the episode, from FrankaKitchen-v1's per-step
    reward (subtasks solved at this step); a step with all of them solved is terminal
    (:func:`all_solved`, the env's rule).

    Raises:
        DatasetError: an episode sums to more than ``subtasks`` (rewards that are running
            counts already, or subtasks counted twice).
    """

    def relabel(arrays):
        rewards = np.asarray(arrays["rewards"], dtype=np.float64).reshape(-1)
        ends = episode_ends(arrays)
        total = np.cumsum(rewards)
        total_before = np.concatenate(([0.0], total[ends]))
        counts = total - total_before[np.cumsum(ends) - ends]
        if counts.max() > subtasks + 1e-6:
            raise DatasetError(
                f"kitchen rewards sum to {counts.max():g} within an episode, more than the "
                f"{subtasks} subtasks: expected FrankaKitchen-v1's per-step reward (subtasks "
                "solved at that step)"
            )
        terminals = np.logical_or(np.asarray(arrays["terminals"]).reshape(-1), all_solved(counts, subtasks))
        return {**arrays, "rewards": counts, "terminals": terminals}

    return relabel


class Kitchen(Domain):
    name = "kitchen"
    task_fields = dict(
        env_id="FrankaKitchen-v1", max_episode_steps=280, reward_scale=1.0, reward_bias=-4.0, sparse=False,
        metric="kitchen_final", ref_min_score=0.0, ref_max_score=4.0, behaviour="random", obs_dim=59, action_dim=9,
    )
    observation_keys = ("observation",)
    paper_networks = ((512, 512, 512), (512, 512, 512))
    d4rl_release_usable = False

    def step_rules(self, task: Task) -> StepRules:
        """Reward: the subtasks solved so far; success: all of them (:func:`all_solved`)."""
        subtasks = num_subtasks(task)

        def success(info: dict[str, Any]) -> bool:
            return bool(all_solved(_solved_so_far(info), subtasks))

        return StepRules(success, lambda reward, info: _solved_so_far(info))

    def minari_layout(self, task: Task) -> Layout:
        """``observation``; per-step rewards summed into the running count the env returns."""
        return Layout(solved_count_relabel(num_subtasks(task)), concat_keys(self.observation_keys))

    def d4rl_refusal(self, task: Task, width: int) -> str | None:
        if width != D4RL_KITCHEN_WIDTH:
            return None
        return (
            f"D4RL's kitchen layout ({width} features: robot qpos, object qpos, the task's goal "
            "vector) has no velocities, which the env's 59-feature observation (robot qpos, "
            "robot qvel, object qpos, object qvel) needs."
        )


Kitchen.tasks = tuple(
    Kitchen.task(
        name=name, env_kwargs=(("tasks_to_complete", subtasks),), d4rl_name=f"{name}-v0",
        minari_id=f"D4RL/kitchen/{name.removeprefix('kitchen-')}-v2",
    )
    for name, subtasks in SUBTASKS.items()
)
DOMAIN = Kitchen()
