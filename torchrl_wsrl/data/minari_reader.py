"""Local Minari datasets (Farama's successor of D4RL) read into the offline TensorDict.

Read with the ``minari`` package itself, episode by episode. TorchRL's
``MinariExperienceReplay`` is not used: in TorchRL 0.14.1 its conversion fills a TensorDict and
then stores ``td_data.memmap_like(...)``, an empty (all-zero) copy of the same structure, so every
observation, action and reward it returns is zero (tripwire test in
tests/data/test_minari_reader.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from tensordict import TensorDict

from torchrl_wsrl.data.transitions import (
    DatasetError,
    DatasetSpec,
    transitions_to_tensordict,
)

if TYPE_CHECKING:
    import minari


def minari_dataset_path(dataset_id: str, root: str | os.PathLike | None = None) -> Path:
    """Folder of a local Minari dataset: ``<root>/<dataset_id>``, the root being ``root``, else
    ``MINARI_DATASETS_PATH``, else ``~/.minari/datasets`` (minari's own rule, without creating
    anything)."""
    if root is None:
        root = os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets")
    return Path(root) / dataset_id


def load_minari(dataset_id: str, spec: DatasetSpec = DatasetSpec(), *, root: str | os.PathLike | None = None) -> TensorDict:
    """Read a Minari dataset stored on this machine into the offline TensorDict, with MC returns.

    Minari stores ``T + 1`` observations per episode of ``T`` steps; transition ``t`` has
    observation ``t`` and next observation ``t + 1``. Episodes end on their terminations and
    truncations; an episode's last step carrying neither flag is treated as truncated (the
    recording stopped). Truncated, non-terminated steps are dropped after the MC returns are
    computed, as in :func:`~torchrl_wsrl.data.load_d4rl_hdf5`; output layout:
    :func:`~torchrl_wsrl.data.transitions.transitions_to_tensordict`.

    Args:
        dataset_id: Minari id, e.g. ``"D4RL/antmaze/large-diverse-v1"``.
        root: folder holding the datasets (``<root>/<dataset_id>/data``); default
            ``MINARI_DATASETS_PATH``, else ``~/.minari/datasets`` (minari's own rule).
        spec: the task's :class:`~torchrl_wsrl.data.transitions.DatasetSpec`. Its
            ``obs_transform`` takes the raw observations of all episodes, ``[N, ...]`` arrays
            or, for a Dict observation space, a dict of them (e.g. ``observation``,
            ``achieved_goal``, ``desired_goal``), and is required for Dict spaces: which parts
            the env's policy sees is the task's decision, not the reader's. The relabel's
            ``infos`` are the episodes' recorded infos, one row per step (a recorded reset info
            is dropped).

    Raises:
        FileNotFoundError: no dataset at ``<root>/<dataset_id>``; says where it looked.
        DatasetError (a ValueError): invalid content, or Dict observations without
            ``obs_transform``; messages name the dataset, its folder and the key.
    """
    try:
        import minari
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "load_minari needs the minari package: pip install 'torchrl-wsrl[robotics]'"
        ) from error
    dataset_path = minari_dataset_path(dataset_id, root)
    if not (dataset_path / "data").is_dir():
        raise FileNotFoundError(
            f"No Minari dataset {dataset_id!r} at {dataset_path} (looked for "
            f"{dataset_path / 'data'}). Put one there: copy the folder {dataset_id} of a machine "
            "that ran `minari download` into the datasets root, or create one with "
            "minari.create_dataset_from_buffers; the root is the `root` argument, else "
            "MINARI_DATASETS_PATH, else ~/.minari/datasets."
        )
    dataset = minari.MinariDataset(dataset_path / "data")
    source = f"Minari dataset {dataset_id!r} at {dataset_path}"
    if isinstance(dataset.observation_space, gym.spaces.Dict) and spec.obs_transform is None:
        raise DatasetError(
            f"{source}: observations are a Dict space with keys "
            f"{list(dataset.observation_space.spaces)}; pass obs_transform to flatten them into "
            "the env's observation layout"
        )
    arrays = _episodes_to_arrays(dataset.iterate_episodes(), source, infos=spec.relabel is not None)
    return transitions_to_tensordict(arrays, spec, source=source)


def _episodes_to_arrays(
    episodes: Iterable[minari.EpisodeData], source: str, *, infos: bool = False
) -> dict[str, Any]:
    """Concatenate Minari episodes into flat D4RL-keyed arrays (dict observations stay dicts);
    with ``infos``, also the per-step infos every episode recorded (see :func:`_step_infos`).

    Raises:
        DatasetError: no steps, or an episode without exactly one more observation than steps.
    """
    keys = ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts")
    parts: dict[str, list] = {key: [] for key in keys}
    info_parts: list[dict[str, Any]] = []
    for episode in episodes:
        num_steps = len(episode)
        if num_steps == 0:
            continue
        num_observations = _num_rows(episode.observations)
        if num_observations != num_steps + 1:
            raise DatasetError(
                f"{source}: episode {episode.id} has {num_observations} observations for "
                f"{num_steps} steps, expected {num_steps + 1}"
            )
        terminals = np.asarray(episode.terminations, dtype=bool)
        timeouts = np.asarray(episode.truncations, dtype=bool).copy()
        timeouts[-1] |= not terminals[-1]
        parts["observations"].append(_rows(episode.observations, slice(0, -1)))
        parts["next_observations"].append(_rows(episode.observations, slice(1, None)))
        parts["actions"].append(np.asarray(episode.actions))
        parts["rewards"].append(np.asarray(episode.rewards))
        parts["terminals"].append(terminals)
        parts["timeouts"].append(timeouts)
        if infos:
            info_parts.append(_step_infos(episode.infos or {}, num_steps))
    if not parts["rewards"]:
        raise DatasetError(f"{source}: the dataset is empty (0 transitions)")
    arrays = {key: _concatenate(values) for key, values in parts.items()}
    if infos:
        arrays["infos"] = _concatenate(info_parts)
    return arrays


def _step_infos(infos: Mapping[str, Any], num_steps: int) -> dict[str, Any]:
    """One row per step of an episode's recorded infos.

    Minari's DataCollector records the reset info too (``num_steps + 1`` rows): its first row
    is dropped. Entries of any other length are left out; nested dicts are kept as dicts.
    """
    rows = {}
    for key, value in infos.items():
        if isinstance(value, Mapping):
            rows[key] = _step_infos(value, num_steps)
            continue
        value = np.asarray(value)
        if value.ndim >= 1 and len(value) in (num_steps, num_steps + 1):
            rows[key] = value[len(value) - num_steps :]
    return rows


def _rows(value: Any, rows: slice) -> Any:
    """``value[rows]`` for an array or, recursively, a dict of arrays."""
    if isinstance(value, Mapping):
        return {key: _rows(sub_value, rows) for key, sub_value in value.items()}
    return np.asarray(value)[rows]


def _num_rows(value: Any) -> int:
    if isinstance(value, Mapping):
        return _num_rows(next(iter(value.values())))
    return len(value)


def _concatenate(parts: list) -> Any:
    """Concatenate along rows; dicts of arrays key by key (keys every part has)."""
    if isinstance(parts[0], Mapping):
        shared = [key for key in parts[0] if all(key in part for part in parts)]
        return {key: _concatenate([part[key] for part in parts]) for key in shared}
    return np.concatenate(parts)
