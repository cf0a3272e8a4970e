"""The reward transform of every domain, defined once.

The agent trains on ``raw_reward * reward_scale + reward_bias`` (WSRL doc, per-domain table:
antmaze ``r * 10 - 5``, adroit ``r * 10 + 5``, locomotion and kitchen unchanged). It is applied
to the data the agent learns from (offline transitions before their MC returns, online
transitions before the replay buffer, the evaluation's MC returns, the sparse failure reward),
never inside the env: scores are computed on the raw reward. On a TorchRL env of your own the
same transform is ``torchrl.envs.RewardScaling(loc=reward_bias, scale=reward_scale)``.
"""
from __future__ import annotations

from typing import TypeVar

R = TypeVar("R")

__all__ = ["scale_reward", "unscale_reward"]


def scale_reward(reward: R, scale: float, bias: float) -> R:
    """``reward * scale + bias`` for a float, a NumPy array or a tensor of raw rewards (any
    shape; the result keeps the type, shape and dtype)."""
    return reward * scale + bias


def unscale_reward(reward: R, scale: float, bias: float) -> R:
    """The raw reward back from a scaled one, ``(reward - bias) / scale`` (the inverse of
    :func:`scale_reward`; exact for the domains' binary rewards). Used where stored online
    transitions are written out as raw data (the generator's medium-replay).

    Raises:
        ValueError: ``scale == 0`` (the transform cannot be inverted).
    """
    if scale == 0:
        raise ValueError("reward scale 0: the scaled reward does not determine the raw one")
    return (reward - bias) / scale
