"""Where a task's offline data comes from: a given file, the shipped sample, the local cache of
generated data, or a local Minari dataset."""
from __future__ import annotations

import os
from pathlib import Path

from tensordict import TensorDict

from torchrl_wsrl.data.d4rl import load_d4rl_hdf5
from torchrl_wsrl.data.minari_reader import load_minari
from torchrl_wsrl.envs import Task

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def cache_dir() -> Path:
    """Where generated datasets live: ``$TORCHRL_WSRL_DATA`` or ``~/.cache/torchrl_wsrl/datasets``."""
    return Path(os.environ.get("TORCHRL_WSRL_DATA", Path.home() / ".cache" / "torchrl_wsrl" / "datasets"))


def generated_path(task: Task) -> Path:
    return cache_dir() / f"{task.name}.hdf5"


def candidate_paths(task: Task) -> list[Path]:
    """D4RL-format files looked for, in order: the shipped sample, then the cache."""
    return [ASSETS / f"{task.name}.hdf5", generated_path(task)]


# The raw reward of a step that has not solved a sparse task: 0 for the 0/1 goal rewards, -1 for
# adroit's -1/0 binary reward (see the registry).
_RAW_FAILURE_REWARD = {"adroit": -1.0}


def sparse_failure_reward(task: Task) -> float | None:
    """The scaled reward ``r_neg`` of a step that fails a sparse task (``None`` for dense tasks);
    MC returns of all-failure episodes are ``r_neg / (1 - gamma)`` (Cal-QL, WSRL doc)."""
    if not task.sparse:
        return None
    return _RAW_FAILURE_REWARD.get(task.domain, 0.0) * task.reward_scale + task.reward_bias


def load_task_dataset(task: Task, *, path: str | os.PathLike | None = None, gamma: float = 0.99) -> TensorDict:
    """The offline TensorDict of ``task`` (keys: see :func:`~torchrl_wsrl.data.load_d4rl_hdf5`),
    with the task's reward scale and bias, MC returns and size checks against its env.

    ``path`` (a D4RL-format HDF5 file) wins; otherwise the shipped sample, the generated cache
    (:func:`generated_path`) and the local Minari dataset ``task.minari_id`` are tried in turn.

    Raises:
        FileNotFoundError: nothing found; the message lists where it looked and the command that
            generates the data.
    """
    kwargs = dict(
        gamma=gamma,
        reward_scale=task.reward_scale,
        reward_bias=task.reward_bias,
        sparse_failure_reward=sparse_failure_reward(task),
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
    )
    if path is not None:
        return load_d4rl_hdf5(path, **kwargs)
    for candidate in candidate_paths(task):
        if candidate.is_file():
            return load_d4rl_hdf5(candidate, **kwargs)
    minari_error = None
    if task.minari_id is not None and task.domain == "locomotion":
        try:
            return load_minari(task.minari_id, **kwargs)
        except FileNotFoundError as err:
            minari_error = err
    looked = "\n  ".join(str(p) for p in candidate_paths(task))
    raise FileNotFoundError(
        f"no offline dataset for task {task.name!r}. Looked for D4RL-format HDF5 files at:\n  {looked}\n"
        + (f"and for the local Minari dataset {task.minari_id!r} ({minari_error}).\n" if minari_error else "")
        + f"Generate one with:\n  python -m torchrl_wsrl.data.generate --task {task.name}\n"
        f"or pass an existing file: python -m torchrl_wsrl.train task={task.name} dataset_path=/path/to/{task.d4rl_name}.hdf5"
    )
