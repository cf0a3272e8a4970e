"""Which :class:`~torchrl_wsrl.domains.Layout` brings a data source into a task's env layout.

The readers take two hooks, ``relabel`` (arrays as read -> the task's reward, termination,
action and frame conventions) and then ``obs_transform`` (observations -> the env's flat
layout), so that what the agent trains on is what the task's env would have produced. The
hooks themselves are the domain's (:mod:`torchrl_wsrl.domains`); this module only tells the
sources apart:

==========  ==========================================  ============================================
domain      D4RL-format HDF5 file                       local Minari dataset
==========  ==========================================  ============================================
locomotion  as is (gym v2 and gymnasium v5 share the    as is
            observation layout)
antmaze     refused (D4RL's frame is the mirror image   ``achieved_goal`` + ``observation``; reward
            of the env's and its ant differs)           and termination at the task's goal cell
kitchen     60 features: refused (no velocities);       ``observation``; reward = subtasks solved
            59: as is                                   so far in the episode
adroit      as is; reward -1/0 from ``infos/            as is; reward -1/0 from ``infos["success"]``
            goal_achieved`` (or already binary)
pointmaze   4 features (maze2d): rotated into the       ``observation`` + ``desired_goal``; reward
            env's frame, goal from ``infos/goal``       and termination recomputed at 0.45 m
==========  ==========================================  ============================================

A file whose root attribute ``env_id`` names the task's env (every file the generator writes)
holds transitions of that very env and is read as is. Goal-reaching domains follow the env's
rule that a step reaching the goal ends the episode: such a step is marked terminal.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from torchrl_wsrl.data.minari_reader import minari_dataset_path
from torchrl_wsrl.domains import Layout, Task
from torchrl_wsrl.errors import DatasetError

__all__ = ["d4rl_layout", "minari_layout"]


def minari_layout(task: Task) -> Layout:
    """The :class:`~torchrl_wsrl.domains.Layout` of the Minari datasets of ``task``'s domain
    (:meth:`~torchrl_wsrl.domains.Domain.minari_layout`)."""
    return task.rules.minari_layout(task)


def d4rl_layout(task: Task, path: str | os.PathLike) -> Layout:
    """The :class:`~torchrl_wsrl.domains.Layout` of the D4RL-format file at ``path`` for
    ``task``, told apart by the file's observation width and its root attribute ``env_id``.

    Raises:
        DatasetError: a D4RL layout with no faithful mapping onto the task's env (antmaze,
            60-feature kitchen); the message says why and where to put the Minari release.
        FileNotFoundError: no file at ``path``.
    """
    path = Path(path)
    width, env_id = _peek(path)
    if width is None or env_id == task.env_id:
        return Layout()  # the env's own layout, or a file the reader will reject
    refusal = task.rules.d4rl_refusal(task, width)
    if refusal is not None:
        raise DatasetError(f"{path}: {refusal} {_minari_hint(task)}")
    return task.rules.d4rl_layout(task, width)


def _peek(path: Path) -> tuple[int | None, str | None]:
    """The file's observation width (None if unreadable) and its root attribute ``env_id``."""
    if not path.is_file():
        raise FileNotFoundError(f"No D4RL HDF5 file at {path}")
    try:
        with h5py.File(path, "r") as file:
            observations = file.get("observations")
            width = observations.shape[-1] if isinstance(observations, h5py.Dataset) else None
            env_id = file.attrs.get("env_id")
    except OSError:
        return None, None  # the reader reports what is wrong with the file
    if isinstance(env_id, bytes):
        env_id = env_id.decode()
    return width, env_id


def _minari_hint(task: Task) -> str:
    generate = f"wsrl-generate --task {task.name}"
    if task.minari_id is None:
        return f"No Minari release exists for this task; generate stand-in data: {generate}"
    return (
        f"Use the Minari release {task.minari_id!r}, collected on the env: put it at "
        f"{minari_dataset_path(task.minari_id)}, or generate stand-in data: {generate}."
    )
