"""D4RL-format HDF5 files: write (for generated datasets) and read into an offline TensorDict.

Format (Fu et al. 2020, D4RL; the layout of its ``get_dataset()``): one row per transition,
``observations [N, obs]``, ``actions [N, act]``, ``rewards [N]``, ``terminals [N]``,
``timeouts [N]`` and, in most v2 files, ``next_observations [N, obs]``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
from tensordict import TensorDict

from torchrl_wsrl.errors import MissingKeyError
from torchrl_wsrl.data.transitions import (
    D4RL_KEYS,
    REQUIRED_KEYS,
    DatasetError,
    DatasetSpec,
    as_flags,
    check_lengths,
    to_float32,
    transitions_to_tensordict,
)

_FLAG_KEYS = ("terminals", "timeouts")


def write_d4rl_hdf5(
    path: str | os.PathLike,
    data: Mapping[str, np.ndarray],
    *,
    overwrite: bool = False,
    metadata: Mapping | None = None,
) -> Path:
    """Write transitions as a gzip-compressed D4RL-format HDF5 file, atomically.

    The file is written next to ``path`` under a temporary name and renamed into place, so a
    reader never sees a half-written file and an interrupted write leaves no file at ``path``.

    Args:
        path: destination ``.hdf5`` file; parent folders are created.
        data: ``observations [N, obs]``, ``actions [N, act]``, ``rewards [N]``,
            ``terminals [N]`` and optionally ``timeouts [N]``, ``next_observations [N, obs]``.
            Stored as float32 (observations, actions, rewards) and bool (flags).
        overwrite: replace an existing file instead of refusing.
        metadata: written as attributes of the file's root (values h5py can store: numbers,
            strings, arrays).

    Returns:
        The path written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        MissingKeyError: a required key is absent. DatasetError: an unknown key, mismatched
            row counts, or NaN/inf in a float key after the float32 cast.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    source = f"data for {path}"
    _check_keys(data.keys(), source)
    unknown = sorted(set(data) - set(D4RL_KEYS))
    if unknown:
        raise DatasetError(f"{source}: unknown keys {unknown}; D4RL keys are {list(D4RL_KEYS)}")
    check_lengths(data, source)
    arrays = {
        key: np.asarray(value, bool) if key in _FLAG_KEYS else to_float32(value, key, source)
        for key, value in data.items()
    }

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with h5py.File(tmp_name, "w") as file:
            for key, value in arrays.items():
                file.create_dataset(key, data=value, compression="gzip")
            file.attrs.update(dict(metadata or {}))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_d4rl_hdf5(path: str | os.PathLike, spec: DatasetSpec = DatasetSpec()) -> TensorDict:
    """Read a D4RL-format HDF5 file into the offline TensorDict, with MC returns.

    Missing ``timeouts`` read as all False. Missing ``next_observations`` are taken from the next
    row within an episode; at an episode end the file does not hold the next observation:
    terminal rows keep their own observation as a placeholder (never bootstrapped from, as
    ``terminated`` masks it), and non-terminal ends (timeouts, the file's last row) are dropped.
    Episode splitting, reward scaling, MC returns, dropping of timeouts and the output layout:
    :func:`~torchrl_wsrl.data.transitions.transitions_to_tensordict`.

    Args:
        path: the HDF5 file.
        spec: the task's :class:`~torchrl_wsrl.data.transitions.DatasetSpec` (reward transform,
            discount, feature counts, episode limit, relabel, observation layout); the relabel's
            ``infos`` are the file's ``infos/<name>`` datasets with one row per transition (e.g.
            ``infos/goal``). A file without ``timeouts`` shows as one episode beyond the limit.

    Returns:
        TensorDict, batch ``[N']``: ``observation``, ``action``, ``mc_return`` and ``next``
        (``observation``, ``reward``, ``terminated``, ``truncated``, ``done``).

    Raises:
        FileNotFoundError: no file at ``path``.
        MissingKeyError (a KeyError and DatasetError): a required key is absent.
        DatasetError (a ValueError): not an HDF5 file, or invalid content (see
            ``transitions_to_tensordict``); every message names the file and key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No D4RL HDF5 file at {path}")
    arrays = _read_arrays(path)
    source = str(path)
    num_rows = check_lengths(arrays, source)
    arrays.setdefault("timeouts", np.zeros(num_rows, dtype=bool))
    drop = None
    if "next_observations" not in arrays:
        arrays["next_observations"], drop = _next_observations_from_rows(
            arrays["observations"],
            as_flags(arrays["terminals"], "terminals", source),
            as_flags(arrays["timeouts"], "timeouts", source),
        )
    if spec.relabel is not None:
        arrays["infos"] = _read_infos(path, num_rows)
    return transitions_to_tensordict(arrays, spec, source=source, drop=drop)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The D4RL datasets of the file's root as numpy arrays (other keys are ignored)."""
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(f"{path}: cannot be opened as an HDF5 file ({error})") from error
    with file:
        datasets = {key for key, item in file.items() if isinstance(item, h5py.Dataset)}
        _check_keys(datasets, str(path))
        return {key: file[key][()] for key in D4RL_KEYS if key in datasets}


def _read_infos(path: Path, num_rows: int) -> dict[str, np.ndarray]:
    """The ``infos/<name>`` datasets of the file with ``num_rows`` rows (others are ignored)."""
    with h5py.File(path, "r") as file:
        group = file.get("infos")
        if not isinstance(group, h5py.Group):
            return {}
        return {
            name: item[()]
            for name, item in group.items()
            if isinstance(item, h5py.Dataset) and item.ndim >= 1 and len(item) == num_rows
        }


def _check_keys(keys, source: str) -> None:
    """Raise ``MissingKeyError`` listing the keys present if a required key is absent."""
    missing = [key for key in REQUIRED_KEYS if key not in keys]
    if missing:
        raise MissingKeyError(
            f"{source}: missing required key(s) {missing}; keys present: {sorted(keys)}"
        )


def _next_observations_from_rows(
    observations: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Next observations ``[N, obs]`` read off the following row, and the ``[N]`` rows to drop.

    Episode-end rows have no next observation in the file: they get their own observation as a
    placeholder; the non-terminal ones (whose next observation would be bootstrapped from) are
    flagged for dropping. ``terminals`` and ``timeouts`` are bool ``[N]``.
    """
    episode_ends = terminals | timeouts
    episode_ends[-1] = True
    next_observations = np.concatenate((observations[1:], observations[-1:]))
    next_observations[episode_ends] = observations[episode_ends]
    return next_observations, episode_ends & ~terminals
