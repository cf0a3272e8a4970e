"""Build a task's env: a gymnasium env with its domain's rules (:mod:`torchrl_wsrl.domains`), or
its TorchRL wrapper."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import torch
from torchrl.data import Categorical
from torchrl.envs import EnvBase
from torchrl.envs.gym_like import default_info_dict_reader
from torchrl.envs.libs.gym import GymWrapper

from torchrl_wsrl.envs import kitchen_patch
from torchrl_wsrl.envs.registry import Task, get_task
from torchrl_wsrl.envs.wrappers import GoalTaskWrapper, concat_dict_observation

__all__ = ["make_gym_env", "make_env"]


def _require_robotics(task: Task) -> None:
    try:
        import gymnasium_robotics
    except ImportError as err:
        raise ImportError(
            f'Task {task.name!r} needs gymnasium-robotics: pip install "torchrl-wsrl[robotics]"'
        ) from err
    kitchen_patch.apply()
    gym.register_envs(gymnasium_robotics)


# MuJoCo compiler warnings about gymnasium's own model files, which no user of a task can act on.
_ASSET_DEPRECATIONS = ("compiler attribute 'settotalmass' is deprecated",)  # HalfCheetah-v5 with mujoco >= 3.4


@contextmanager
def _mujoco_compiler_warnings() -> Iterator[None]:
    """While the env's model compiles, MuJoCo's warnings are collected instead of printed and
    appended to ``MUJOCO_LOG.TXT`` in the working directory (MuJoCo's default), then issued as
    Python ``UserWarning``s, except the :data:`_ASSET_DEPRECATIONS`. MuJoCo's own handler is
    back afterwards, for the warnings of a running simulation. The handler only collects: an
    exception raised inside MuJoCo's callback (a ``warnings`` filter set to ``error``) would
    abort the process."""
    try:
        import mujoco
    except ImportError:  # a non-MuJoCo env
        yield
        return
    messages: list[str] = []
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(messages.append)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)
    for message in messages:
        if not message.startswith(_ASSET_DEPRECATIONS):
            warnings.warn(f"MuJoCo: {message}", UserWarning, stacklevel=3)


def make_gym_env(task: Task, *, seed: int | None = None, render_mode=None) -> gym.Env:
    """The gymnasium env of ``task``, with the domain's reward and termination rules.

    Observation: float32 Box of shape ``[task.obs_dim]`` (Dict observations flattened as
    documented in the domain modules, :mod:`torchrl_wsrl.domains`). Action: float32 Box ``[-1, 1]`` of shape
    ``[task.action_dim]``. Reward: the RAW domain reward (before ``task.reward_scale`` and
    ``task.reward_bias``): locomotion as gymnasium; antmaze and pointmaze 1 at the goal, else
    0; kitchen the number of subtasks solved so far; adroit 0 on success, else -1. Goal-reaching
    domains end the episode on success and put a ``(1,)`` bool array ``info["is_success"]``.
    Episodes are truncated after ``task.max_episode_steps`` env steps.

    Args:
        task: the task to build.
        seed: if given, the env is reset once with ``seed`` (gymnasium seeds at reset; the
            next plain ``reset()`` continues that random stream) and the action space seeded.
        render_mode: passed to :func:`gymnasium.make`.

    Raises:
        ImportError: a gymnasium-robotics task without gymnasium-robotics installed.
        ValueError: the built env's spaces do not match ``task.obs_dim``/``task.action_dim``.
    """
    domain = task.rules
    if domain.needs_robotics:
        _require_robotics(task)
    with _mujoco_compiler_warnings():
        env = gym.make(
            task.env_id,
            max_episode_steps=task.max_episode_steps,
            render_mode=render_mode,
            **dict(task.env_kwargs),
        )
    if domain.observation_keys is not None:
        env = concat_dict_observation(env, domain.observation_keys)
    elif env.observation_space.dtype != np.float32:
        with warnings.catch_warnings():  # gymnasium warns on casting any float64 bound, inf too
            warnings.filterwarnings("ignore", message=".*Box (low|high)'s precision lowered", category=UserWarning)
            env = gym.wrappers.DtypeObservation(env, np.float32)
    action_space = env.action_space
    if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
        env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
    rules = domain.step_rules(task)
    if rules is not None:
        env = GoalTaskWrapper(env, rules.success, rules.reward)
    _check_spaces(env, task)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def _check_spaces(env: gym.Env, task: Task) -> None:
    obs_shape, action_shape = env.observation_space.shape, env.action_space.shape
    if obs_shape != (task.obs_dim,) or action_shape != (task.action_dim,):
        raise ValueError(
            f"Task {task.name!r}: env {task.env_id} gives observations {obs_shape} and actions "
            f"{action_shape}, the registry says ({task.obs_dim},) and ({task.action_dim},)"
        )


def make_env(
    task: Task | str,
    *,
    seed: int | None = None,
    device="cpu",
    gym_wrapper: Callable[[gym.Env], gym.Env] | None = None,
) -> EnvBase:
    """The TorchRL env of ``task``: :func:`make_gym_env` inside a ``GymWrapper``.

    Keys (batch size ``[]``): ``"observation"`` float32 ``[obs_dim]``, ``"action"`` float32
    ``[action_dim]`` in [-1, 1], ``("next", "reward")`` float32 ``[1]`` (RAW reward),
    ``("next", "terminated" | "truncated" | "done")`` bool ``[1]``, and for goal-reaching
    domains (``task.has_success``) ``"is_success"`` bool ``[1]`` at reset and after every step,
    read from the env's info dict.

    Args:
        task: a :class:`Task` or a registered task name.
        seed: seeds the env (``EnvBase.set_seed``) if given.
        device: device of the env's tensors.
        gym_wrapper: wraps the gymnasium env of :func:`make_gym_env` before TorchRL does (the
            data generator uses it to choose start cells); it must keep the spaces.

    Raises:
        KeyError: unknown task name.
        ImportError, ValueError: as :func:`make_gym_env`.
    """
    if isinstance(task, str):
        task = get_task(task)
    gym_env = make_gym_env(task)
    if gym_wrapper is not None:
        gym_env = gym_wrapper(gym_env)
    env = GymWrapper(gym_env, device=device)
    if task.has_success:
        success_spec = Categorical(2, shape=(1,), dtype=torch.bool, device=device)
        env.set_info_dict_reader(default_info_dict_reader(["is_success"], spec=[success_spec]))
    if seed is not None:
        env.set_seed(seed)
    return env
