"""Random replay batches for tests and benchmarks (no learning signal, every key the losses read)."""
from __future__ import annotations

import torch
from tensordict import TensorDict


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
