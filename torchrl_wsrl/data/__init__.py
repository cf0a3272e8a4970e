"""Offline datasets -> TensorDicts: D4RL HDF5 files, local Minari datasets, MC returns.

Every reader returns a TensorDict with batch ``[N]``: ``observation``, ``action``,
``mc_return`` and ``next`` (``observation``, ``reward`` scaled, ``terminated``, ``truncated``,
``done``); see :func:`~torchrl_wsrl.data.transitions.transitions_to_tensordict`.
"""

from torchrl_wsrl.data.d4rl import load_d4rl_hdf5, write_d4rl_hdf5
from torchrl_wsrl.data.minari_reader import load_minari
from torchrl_wsrl.data.returns import mc_returns
from torchrl_wsrl.data.transitions import DatasetSpec
from torchrl_wsrl.errors import DatasetError, MissingKeyError

__all__ = [
    "DatasetError",
    "DatasetSpec",
    "MissingKeyError",
    "load_d4rl_hdf5",
    "load_minari",
    "mc_returns",
    "write_d4rl_hdf5",
]
