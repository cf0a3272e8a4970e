"""AntMaze evaluation layouts, as gymnasium-robotics ``maze_map`` values.

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

Tuples, not lists, so that a :class:`~torchrl_wsrl.envs.registry.Task` holding them stays
hashable and immutable.
"""

from __future__ import annotations

R, G = "r", "g"

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
