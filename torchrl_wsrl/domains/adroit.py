"""Adroit binary: gymnasium-robotics ``AdroitHand*Sparse-v1`` with the binary reward of the
datasets of Nair et al. 2020 (AWAC), used by Cal-QL and WSRL.

Raw reward 0 at a step where ``info["success"]`` holds, -1 otherwise (:func:`binary_reward`,
the env's and the data's rule), ``r * 10 + 5`` for the agent; the episode ends on success (the
authors' AdroitTerminalWrapper). Pen episodes are 100 steps as in the binary datasets (the
gymnasium registration says 200). Scores are success rates, so the references are 0 / 1.
Minari has no binary release; ``minari_id`` points at the human demonstrations the binary
datasets start from (relabelled from ``infos["success"]``). The binary datasets hold human
demonstrations plus behaviour-cloned rollouts, which nothing local can reproduce: the
generator's stand-in is uniform random actions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from torchrl_wsrl.domains.base import Domain, Layout, Relabel, StepRules, Task, info_success
from torchrl_wsrl.errors import DatasetError

__all__ = ["DOMAIN", "binary_reward", "binary_relabel"]

HANDS = {
    # name: (env_id, max_episode_steps, obs_dim, action_dim)
    "pen-binary": ("AdroitHandPenSparse-v1", 100, 45, 24),
    "door-binary": ("AdroitHandDoorSparse-v1", 200, 39, 28),
    "relocate-binary": ("AdroitHandRelocateSparse-v1", 200, 39, 30),
}


def binary_reward(success: Any) -> Any:
    """Adroit's binary reward, for one step or vectorised: 0.0 where ``success``, else -1.0 (the
    env's own sparse reward, 10 / -0.1 for pen, is discarded)."""
    return np.where(success, 0.0, -1.0)


def binary_relabel(success_info: str) -> Relabel:
    """Adroit's binary reward (:func:`binary_reward`) on offline data, terminal at a success.

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
        terminals = np.logical_or(np.asarray(arrays["terminals"]).reshape(-1), success)
        return {**arrays, "rewards": binary_reward(success), "terminals": terminals}

    return relabel


class Adroit(Domain):
    name = "adroit"
    task_fields = dict(
        env_kwargs=(), reward_scale=10.0, reward_bias=5.0, sparse=True, metric="success_rate", ref_min_score=0.0,
        ref_max_score=1.0, behaviour="random",
    )
    failure_reward = -1.0
    paper_networks = ((512, 512, 512), (512, 512))

    def step_rules(self, task: Task) -> StepRules:
        """Success: ``info["success"]``; reward: :func:`binary_reward`."""
        return StepRules(info_success, lambda reward, info: float(binary_reward(info_success(info))))

    def minari_layout(self, task: Task) -> Layout:
        """The human demonstrations, rewards relabelled -1/0 from ``infos["success"]``."""
        return Layout(binary_relabel("success"))

    def d4rl_layout(self, task: Task, width: int) -> Layout:
        """As is; reward -1/0 from ``infos/goal_achieved`` (or already binary)."""
        return Layout(binary_relabel("goal_achieved"))


Adroit.tasks = tuple(
    Adroit.task(
        name=name, env_id=env_id, max_episode_steps=steps, d4rl_name=f"{name}-v0",
        minari_id=f"D4RL/{name.removesuffix('-binary')}/human-v2", obs_dim=obs_dim, action_dim=action_dim,
    )
    for name, (env_id, steps, obs_dim, action_dim) in HANDS.items()
)
DOMAIN = Adroit()
