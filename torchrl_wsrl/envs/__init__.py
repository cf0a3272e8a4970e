"""Tasks and env factories for every domain of the WSRL paper (plus point-maze).

The factory makes ``FrankaKitchen-v1`` work under MuJoCo 4 (:mod:`torchrl_wsrl.envs.kitchen_patch`);
importing this package has no side effect.
"""

from torchrl_wsrl.envs.factory import make_env, make_gym_env
from torchrl_wsrl.envs.registry import Task, get_task, list_tasks
from torchrl_wsrl.envs.scores import episode_score, normalized_score

__all__ = [
    "Task",
    "get_task",
    "list_tasks",
    "make_gym_env",
    "make_env",
    "episode_score",
    "normalized_score",
]
