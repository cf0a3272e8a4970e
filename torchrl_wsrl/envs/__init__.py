"""Tasks and env factories for every domain of the WSRL paper (plus point-maze).

Importing this package installs :mod:`torchrl_wsrl.envs.kitchen_patch`, which makes
``gym.make("FrankaKitchen-v1")`` work under MuJoCo 4 without importing gymnasium-robotics
eagerly.
"""

from torchrl_wsrl.envs import kitchen_patch
from torchrl_wsrl.envs.factory import make_env, make_gym_env
from torchrl_wsrl.envs.registry import Task, get_task, list_tasks
from torchrl_wsrl.envs.scores import episode_score, normalized_score

kitchen_patch.install()

__all__ = [
    "Task",
    "get_task",
    "list_tasks",
    "make_gym_env",
    "make_env",
    "episode_score",
    "normalized_score",
]
