"""Helpers of the tests and benchmarks: random replay batches (no learning signal, every key
the losses read), random D4RL files, and skip marks for the optional extras. Imported as
``support``: ``tests/conftest.py`` puts this folder on the path, and so does
``benchmarks/conftest.py``."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from tensordict import TensorDict

needs_robotics = pytest.mark.skipif(
    importlib.util.find_spec("gymnasium_robotics") is None,
    reason="gymnasium-robotics is not installed: pip install 'torchrl-wsrl[robotics]'",
)


def task_params(names):
    """Task names to parametrize over; those outside locomotion need gymnasium-robotics' envs
    (skipped with :data:`needs_robotics` where it is not installed)."""
    from torchrl_wsrl.envs import get_task

    return [pytest.param(name, marks=needs_robotics) if get_task(name).rules.needs_robotics else name for name in names]


def random_transitions(
    batch_size: int,
    obs_dim: int,
    action_dim: int,
    *,
    terminated_fraction: float = 0.3,
    device: torch.device | str | None = None,
) -> TensorDict:
    """A batch ``[batch_size]`` of random transitions: ``observation`` ``[B, obs_dim]``, ``action``
    ``[B, action_dim]`` uniform in [-1, 1], ``mc_return`` ``[B, 1]`` and ``next`` (``observation``,
    ``reward`` ``[B, 1]``, ``terminated`` with probability ``terminated_fraction``, ``done``
    all False), drawn from torch's global generator in that order."""
    return TensorDict(
        {
            "observation": torch.randn(batch_size, obs_dim),
            "action": torch.rand(batch_size, action_dim) * 2 - 1,
            "mc_return": torch.randn(batch_size, 1),
            "next": {
                "observation": torch.randn(batch_size, obs_dim),
                "reward": torch.randn(batch_size, 1),
                "terminated": torch.rand(batch_size, 1) < terminated_fraction,
                "done": torch.zeros(batch_size, 1, dtype=torch.bool),
            },
        },
        [batch_size],
        device=device,
    )


def write_random_d4rl(path, num_rows: int, *, obs_dim: int = 11, action_dim: int = 3, episode_steps: int = 200, seed: int = 0):
    """Write a D4RL-format HDF5 file of ``num_rows`` random transitions (Gaussian observations
    and rewards, uniform actions in [-1, 1]), an episode ending every ``episode_steps`` rows
    by a time limit and at the last row; returns its path."""
    import numpy as np

    from torchrl_wsrl.data import write_d4rl_hdf5

    rng = np.random.default_rng(seed)
    timeouts = (np.arange(num_rows) % episode_steps == episode_steps - 1) | (np.arange(num_rows) == num_rows - 1)
    data = {
        "observations": rng.normal(size=(num_rows, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(num_rows, action_dim)).astype(np.float32),
        "rewards": rng.normal(size=num_rows).astype(np.float32),
        "terminals": np.zeros(num_rows, bool),
        "timeouts": timeouts,
        "next_observations": rng.normal(size=(num_rows, obs_dim)).astype(np.float32),
    }
    return write_d4rl_hdf5(path, data)
