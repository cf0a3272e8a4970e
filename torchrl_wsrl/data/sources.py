"""Where a task's offline data comes from, loaded into the task's env layout.

With no path given, :func:`load_task_dataset` takes the first of these that exists, real data
before generated stand-ins:

1. ``<data dir>/<task.d4rl_name>.hdf5``: the paper's D4RL(-format) file, copied there;
2. ``<Minari root>/<task.minari_id>``: the local Minari release (root: ``MINARI_DATASETS_PATH``,
   else ``~/.minari/datasets``);
3. ``<data dir>/<task.name>.hdf5``: written by ``wsrl-generate``;
4. ``torchrl_wsrl/assets/<task.name>.hdf5``: a small sample shipped with the package.

``<data dir>`` is ``$TORCHRL_WSRL_DATA``, else ``~/.cache/torchrl_wsrl/datasets``. How each
format maps onto the env (observation layout, reward, termination) and which cannot:
:mod:`torchrl_wsrl.data.layouts`; the per-task table: docs/tasks.md.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np
from tensordict import TensorDict

from torchrl_wsrl.assets import sample_path as shipped_sample_path
from torchrl_wsrl.data.d4rl import load_d4rl_hdf5
from torchrl_wsrl.data.layouts import d4rl_layout, minari_layout
from torchrl_wsrl.data.transitions import DatasetSpec
from torchrl_wsrl.domains import Layout
from torchrl_wsrl.data.minari_reader import load_minari, minari_dataset_path
from torchrl_wsrl.data.returns import episode_returns
from torchrl_wsrl.envs import Task, normalized_score

__all__ = [
    "cache_dir",
    "generated_path",
    "d4rl_path",
    "minari_path",
    "sample_path",
    "sparse_failure_reward",
    "load_task_dataset",
    "resolve_dataset",
    "dataset_score",
    "dataset_spec",
    "load_dataset_path",
    "missing_dataset_message",
]

logger = logging.getLogger(__name__)

# Generator behaviours that reproduce the paper's data in kind (see torchrl_wsrl.cli.generate).
_FAITHFUL_BEHAVIOURS = ("medium", "medium-replay", "expert", "medium-expert", "waypoint")


def cache_dir() -> Path:
    """The data dir: ``$TORCHRL_WSRL_DATA``, else ``~/.cache/torchrl_wsrl/datasets``."""
    default = Path.home() / ".cache" / "torchrl_wsrl" / "datasets"
    return Path(os.environ.get("TORCHRL_WSRL_DATA", default))


def generated_path(task: Task) -> Path:
    """Where the generator writes ``task``'s dataset by default."""
    return cache_dir() / f"{task.name}.hdf5"


def d4rl_path(task: Task) -> Path:
    """Where the paper's D4RL(-format) file of ``task`` is looked for."""
    return cache_dir() / f"{task.d4rl_name}.hdf5"


def minari_path(task: Task) -> Path | None:
    """Folder of ``task``'s local Minari dataset; ``None`` where no Minari release exists."""
    return None if task.minari_id is None else minari_dataset_path(task.minari_id)


def sample_path(task: Task) -> Path:
    """The sample shipped with the package for ``task`` (few tasks have one)."""
    return shipped_sample_path(task.name)


def sparse_failure_reward(task: Task) -> float | None:
    """The scaled reward ``r_neg`` of a step that fails a sparse task (``None`` for dense tasks);
    MC returns of all-failure episodes are ``r_neg / (1 - gamma)`` (Cal-QL, WSRL doc)."""
    if task.failure_reward is None:
        return None
    return task.scale_reward(task.failure_reward)


def load_task_dataset(
    task: Task, *, path: str | os.PathLike | None = None, gamma: float = 0.99
) -> TensorDict:
    """The offline TensorDict of ``task`` in its env's layout, with the task's reward scale and
    bias, MC returns and checks against its env (feature counts; for a D4RL-format file, episodes
    no longer than ``task.max_episode_steps``).

    Keys (batch ``[N]``): see :func:`~torchrl_wsrl.data.transitions.transitions_to_tensordict`.

    Args:
        task: the task; decides the observation layout, reward convention and failure reward.
        path: a D4RL-format HDF5 file or a Minari dataset folder (the one holding ``data/``);
            ``None`` tries the sources of the module docstring in order.
        gamma: discount of the MC returns.

    Raises:
        FileNotFoundError: nothing at ``path``, or no source found; the message lists where it
            looked and how to get the data.
        DatasetError: the data cannot be used for ``task`` (content, layout), naming the file
            and key.
    """
    return load_dataset_path(task, resolve_dataset(task, path), gamma=gamma)


def resolve_dataset(task: Task, path: str | os.PathLike | None = None) -> Path:
    """Where :func:`load_task_dataset` reads ``task``'s data: ``path`` if given, else the first
    source of the module docstring that exists.

    Raises:
        FileNotFoundError: ``path`` is None and no source exists (the message lists where it
            looked and how to get the data).
    """
    if path is not None:
        return Path(path)
    for kind, candidate in _candidates(task):
        if _exists(kind, candidate):
            logger.info("task %s: offline data from the %s at %s", task.name, kind, candidate)
            return candidate
    raise FileNotFoundError(missing_dataset_message(task))


def dataset_score(task: Task, path: str | os.PathLike) -> float | None:
    """Mean normalized score (:func:`~torchrl_wsrl.envs.episode_score` scale, 0-100) of the
    episodes of the D4RL-format file at ``path``, from its raw ``rewards``, ``terminals`` and
    ``timeouts``: the level the data's behaviour policy plays at, the reference a pre-trained
    policy is compared with. ``None`` for a Minari folder or a task not scored by its return.
    """
    path = Path(path)
    if task.metric != "normalized_return" or not path.is_file():
        return None
    with h5py.File(path, "r") as f:
        returns = episode_returns(f["rewards"][:], f["terminals"][:], f["timeouts"][:])
    return float(np.mean([normalized_score(task, r) for r in returns]))


def load_dataset_path(task: Task, path: str | os.PathLike, *, gamma: float = 0.99) -> TensorDict:
    """Load the D4RL-format file or Minari dataset folder at ``path`` for ``task``.

    Raises:
        FileNotFoundError: neither a file nor a folder holding ``data/`` at ``path``.
        DatasetError: as :func:`load_task_dataset`.
    """
    path = Path(path)
    if (path / "data").is_dir():
        # Minari stores its episodes one by one: no unmarked episode ends. Its recorded human
        # demos may be longer than the task's limit (e.g. pen's 200 steps against 100).
        return load_minari(path.name, dataset_spec(task, minari_layout(task), gamma=gamma, episode_limit=False), root=path.parent)
    if not path.is_file():
        raise FileNotFoundError(
            f"No D4RL-format HDF5 file and no Minari dataset folder (one holding data/) at {path}"
        )
    # A flat HDF5 file marks episode ends in terminals / timeouts: one missing shows as an
    # episode longer than the task's limit.
    return load_d4rl_hdf5(path, dataset_spec(task, d4rl_layout(task, path), gamma=gamma))


def dataset_spec(task: Task, layout: Layout, *, gamma: float = 0.99, episode_limit: bool = True) -> DatasetSpec:
    """The :class:`~torchrl_wsrl.data.transitions.DatasetSpec` of ``task`` for a source of
    ``layout``: the task's reward scale and bias, failure reward, feature counts and (with
    ``episode_limit``) episode limit, the layout's relabel and observation transform."""
    return DatasetSpec(
        gamma=gamma,
        reward_scale=task.reward_scale,
        reward_bias=task.reward_bias,
        sparse_failure_reward=sparse_failure_reward(task),
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
        max_episode_steps=task.max_episode_steps if episode_limit else None,
        relabel=layout.relabel,
        obs_transform=layout.obs_transform,
    )


def _candidates(task: Task) -> list[tuple[str, Path]]:
    """``(kind, path)`` of every source of ``task``, in the order they are tried."""
    candidates = [("D4RL file", d4rl_path(task))]
    if task.minari_id is not None:
        candidates.append(("Minari dataset", minari_path(task)))
    candidates += [("generated file", generated_path(task)), ("shipped sample", sample_path(task))]
    return candidates


def _exists(kind: str, path: Path) -> bool:
    return (path / "data").is_dir() if kind == "Minari dataset" else path.is_file()


def missing_dataset_message(task: Task) -> str:
    """Where the data of ``task`` was looked for, and every way to get it."""
    looked = "\n".join(f"  {kind:<15} {path}" for kind, path in _candidates(task))
    ways = []
    if task.minari_id is not None:
        ways.append(
            f"the Minari release: on a machine with network run `minari download "
            f"{task.minari_id}` and copy the folder {task.minari_id} of its datasets root to "
            f"{minari_path(task)}"
        )
    if not task.rules.d4rl_release_usable:
        ways.append(
            f"D4RL's file {task.d4rl_name} cannot be used for this task (its observations do not "
            "map onto the env, see docs/tasks.md)"
        )
    else:
        ways.append(f"D4RL's file {task.d4rl_name}: copy it to {d4rl_path(task)}")
    caveat = "" if task.behaviour in _FAITHFUL_BEHAVIOURS else ", a stand-in, not the paper's data"
    ways.append(
        f"generate it (behaviour {task.behaviour!r}{caveat}): "
        f"wsrl-generate --task {task.name}"
    )
    ways.append(
        f"name a file or Minari folder: python -m torchrl_wsrl.train task={task.name} "
        "dataset_path=/path/to/data"
    )
    return (
        f"No offline dataset for task {task.name!r}. Looked for, in this order:\n{looked}\n"
        "Get it in one of these ways:\n" + "\n".join(f"  - {way}" for way in ways)
    )
