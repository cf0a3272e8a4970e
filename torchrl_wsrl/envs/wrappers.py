"""Gymnasium-level pieces of the env factory: a goal-reaching domain's step rules applied to an env
(the rules themselves: :mod:`torchrl_wsrl.domains`), flat observations, the reset generator's record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["GoalTaskWrapper", "concat_dict_observation", "RecordResetRNG"]


class GoalTaskWrapper(gym.Wrapper):
    """Applies a goal-reaching domain's rules on top of a gymnasium env.

    - writes ``info["is_success"]``, a bool array of shape ``(1,)``, at reset and every step
      (the shape TorchRL's info-dict reader stores as an entry of shape ``[1]``);
    - optionally rewrites the reward from ``(reward, info)``;
    - terminates the episode at the first successful step.

    Args:
        env: the env to wrap.
        success_fn: ``info -> bool``, success at this step.
        reward_fn: ``(raw reward, info) -> reward``; ``None`` keeps the env's reward.
    """

    def __init__(
        self,
        env: gym.Env,
        success_fn: Callable[[dict[str, Any]], bool],
        reward_fn: Callable[[float, dict[str, Any]], float] | None = None,
    ):
        super().__init__(env)
        self.success_fn = success_fn
        self.reward_fn = reward_fn

    def _with_success(self, info: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        success = bool(self.success_fn(info))
        return success, {**info, "is_success": np.array([success], dtype=bool)}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, self._with_success(info)[1]

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        success, info = self._with_success(info)
        if self.reward_fn is not None:
            reward = self.reward_fn(reward, info)
        return obs, float(reward), bool(terminated) or success, truncated, info


def concat_dict_observation(env: gym.Env, keys: Sequence[str]) -> gym.Env:
    """Flatten a ``Dict`` observation into one float32 vector, entries of ``keys`` in order.

    gymnasium's FilterObservation + FlattenObservation cannot express the order (its ``Dict``
    space sorts keys), hence a TransformObservation with an explicit key order.
    """
    space = env.observation_space
    size = sum(int(np.prod(space[key].shape)) for key in keys)
    flat = gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)

    def flatten(obs):
        return np.concatenate([np.ravel(obs[key]) for key in keys]).astype(np.float32)

    return gym.wrappers.TransformObservation(env, flatten, flat)


class RecordResetRNG(gym.Wrapper):
    """Keeps ``rng_state_before_reset``: the env generator's state just before the latest
    ``reset``. Restored into a fresh env before its first reset, it makes that reset draw the
    same start state: how a run checkpoint taken after an episode ended (and the collector
    reset the env) resumes with the episode the uninterrupted run played next."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.rng_state_before_reset: dict | None = None

    def reset(self, **kwargs):
        if kwargs.get("seed") is None:
            self.rng_state_before_reset = dict(self.unwrapped.np_random.bit_generator.state)
        return self.env.reset(**kwargs)
