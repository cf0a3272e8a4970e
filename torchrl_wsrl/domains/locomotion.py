"""Locomotion: gymnasium MuJoCo v5 HalfCheetah, Hopper and Walker2d (D4RL's ``*-v2`` tasks).

Dense reward as gymnasium gives it, no success; D4RL files and Minari datasets read as is (gym
v2 and gymnasium v5 share the observation layout). Networks 2x256 (WSRL doc, per-domain table).
"""
from __future__ import annotations

from torchrl_wsrl.domains.base import Domain, Task

__all__ = ["DOMAIN", "MEDIUM_SCORES"]

# D4RL v2 reference returns (d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE).
ENVS = {
    # name: (env_id, obs_dim, action_dim, ref_min, ref_max)
    "halfcheetah": ("HalfCheetah-v5", 17, 6, -280.178953, 12135.0),
    "hopper": ("Hopper-v5", 11, 3, -20.272305, 3234.3),
    "walker2d": ("Walker2d-v5", 17, 6, 1.629008, 4592.3),
}
LEVELS = ("random", "medium", "medium-replay", "expert", "medium-expert")
# Minari's "mujoco/<env>/*-v0" datasets are new collections on the v5 envs, not D4RL
# re-releases, but their medium/expert levels play the same role; Minari has no random,
# medium-replay or medium-expert counterpart.
MINARI_LEVELS = ("medium", "expert")
# Mean normalized episode score of D4RL's "-medium-v2" data per env: where the generator stops
# the SAC agent for "medium" (about a third of expert return).
MEDIUM_SCORES = {"hopper": 44.0, "walker2d": 75.0, "halfcheetah": 40.0}


class Locomotion(Domain):
    name = "locomotion"
    task_fields = dict(
        env_kwargs=(), max_episode_steps=1000, reward_scale=1.0, reward_bias=0.0, sparse=False, metric="normalized_return"
    )
    needs_robotics = False
    paper_networks = ((256, 256), (256, 256))

    def medium_stop_score(self, task: Task) -> float | None:
        """D4RL's medium level of the task's env (:data:`MEDIUM_SCORES`)."""
        return MEDIUM_SCORES[task.name.split("-")[0]]


def _task(env: str, level: str) -> Task:
    env_id, obs_dim, action_dim, ref_min, ref_max = ENVS[env]
    return Locomotion.task(
        name=f"{env}-{level}", env_id=env_id, ref_min_score=ref_min, ref_max_score=ref_max, d4rl_name=f"{env}-{level}-v2",
        minari_id=f"mujoco/{env}/{level}-v0" if level in MINARI_LEVELS else None, behaviour=level, obs_dim=obs_dim,
        action_dim=action_dim,
    )


Locomotion.tasks = tuple(_task(env, level) for env in ENVS for level in LEVELS)
DOMAIN = Locomotion()
