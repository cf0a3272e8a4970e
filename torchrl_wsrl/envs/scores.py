"""Scoring one evaluation episode on the paper's 0-100 scales."""

from __future__ import annotations

import torch

from torchrl_wsrl.envs.registry import Task

__all__ = ["normalized_score", "episode_score"]


def normalized_score(task: Task, episode_return: float) -> float:
    """D4RL normalized score ``100 * (R - ref_min) / (ref_max - ref_min)``.

    Source: Fu et al. 2020 (D4RL), ``OfflineEnv.get_normalized_score`` times 100.

    Args:
        task: supplies ``ref_min_score`` and ``ref_max_score``.
        episode_return: undiscounted sum of RAW rewards of one episode (before the agent's
            reward scale and bias), or for non-return metrics the quantity the references are
            expressed in (see :class:`~torchrl_wsrl.envs.registry.Task`).

    Returns:
        The score as a Python float; 0 is ``ref_min``, 100 is ``ref_max``, not clipped.
    """
    return 100.0 * (float(episode_return) - task.ref_min_score) / (
        task.ref_max_score - task.ref_min_score
    )


def episode_score(task: Task, rewards: torch.Tensor, is_success: torch.Tensor | None) -> float:
    """Score of ONE evaluation episode on the 0-100 scale of ``task.metric``.

    - ``"normalized_return"`` (locomotion, antmaze, pointmaze): :func:`normalized_score` of
      ``rewards.sum()``.
    - ``"success_rate"`` (adroit): 100 if ``is_success`` is true at any step, else 0; the mean
      over episodes is the success rate in percent.
    - ``"kitchen_final"`` (kitchen): ``100 * rewards[-1] / 4``, the share of the four subtasks
      solved when the episode ends (the authors' "final reward / 4").

    Args:
        task: the evaluated task.
        rewards: RAW env rewards of the episode, shape ``[T]`` or ``[T, 1]``, T >= 1.
        is_success: per-step success flags, shape ``[T]`` or ``[T, 1]``; required for
            ``"success_rate"``, ignored otherwise.

    Raises:
        ValueError: empty or wrongly shaped ``rewards``; ``is_success`` missing for a
            success-rate task.
    """
    rewards = _flat_steps(rewards, "rewards")
    if task.metric == "normalized_return":
        return normalized_score(task, rewards.double().sum().item())
    if task.metric == "kitchen_final":
        return 100.0 * rewards[-1].item() / 4.0
    if is_success is None:
        raise ValueError(f"Task {task.name!r} is scored by success rate: pass is_success")
    return 100.0 * float(_flat_steps(is_success, "is_success").bool().any().item())


def _flat_steps(values: torch.Tensor, what: str) -> torch.Tensor:
    values = torch.as_tensor(values)
    if values.ndim == 2 and values.shape[-1] == 1:
        values = values.squeeze(-1)
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(
            f"{what} must have shape [T] or [T, 1] with T >= 1, got {tuple(values.shape)}"
        )
    return values
