"""Monte-Carlo returns (reward-to-go) of offline episodes, the targets of Cal-QL's calibration."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def mc_returns(
    rewards: Tensor,
    episode_ends: Tensor,
    gamma: float,
    *,
    sparse_failure_reward: float | None = None,
) -> Tensor:
    """Discounted reward-to-go of every transition within its episode.

    ``G_t = sum_{k=t}^{T} gamma^(k-t) r_k``, with ``T`` the last transition of ``t``'s episode and
    no bootstrap after ``T`` (Cal-QL, Nakamoto et al. 2023, Sec. 4; WSRL pre-trains with Cal-QL,
    docs/wsrl-algorithm.md, Phase 1). Sparse-reward rule of the same pipeline: an episode whose
    every reward equals ``sparse_failure_reward`` gets ``sparse_failure_reward / (1 - gamma)`` at
    every step: the return of failing forever, not of failing for the recorded number of steps.

    Args:
        rewards: ``[N]`` rewards, already scaled (``r * reward_scale + reward_bias``), rows in
            time order, episodes one after another.
        episode_ends: ``[N]`` bool, True on the last transition of each episode (terminal,
            timeout, or the dataset's last row). The last row always ends an episode, marked or
            not.
        gamma: discount in ``[0, 1]`` (``[0, 1)`` with ``sparse_failure_reward``).
        sparse_failure_reward: the scaled per-step reward of failure on sparse tasks (antmaze:
            0 * 10 - 5 = -5), or None to disable the rule. Rewards are compared with
            ``torch.isclose`` (rtol = atol = 1e-6).

    Returns:
        ``[N]`` float32 returns. Accumulated in float64.

    Raises:
        ValueError: on shapes other than two equal ``[N]``, or gamma out of range.

    The reverse scan ``G_t = r_t + gamma * (1 - end_t) * G_{t+1}`` is evaluated by recursive
    doubling (Hillis-Steele): after the pass with span ``s`` each row holds its sum over the
    next ``2 s`` rows, so ``ceil(log2(longest episode))`` vectorised passes suffice and there is
    no loop over rows or episodes (1M rows in 1k episodes: 10 passes, ~0.07 s on one CPU core).
    ``torchrl.objectives.value.functional.reward2go`` computes the same quantity but pads every
    episode to the longest one and truncates the discount kernel at 1e-7 (8x slower here, and
    its memory grows with episodes x longest episode).
    """
    if rewards.ndim != 1 or episode_ends.shape != rewards.shape:
        raise ValueError(
            f"mc_returns expects rewards [N] and episode_ends [N], got {tuple(rewards.shape)} "
            f"and {tuple(episode_ends.shape)}"
        )
    if not 0.0 <= gamma <= 1.0 or (gamma == 1.0 and sparse_failure_reward is not None):
        raise ValueError(
            f"gamma must be in [0, 1] ([0, 1) with sparse_failure_reward), got {gamma}"
        )
    episode_ends = episode_ends.to(torch.bool)
    returns = rewards.to(torch.float64)
    if returns.numel() == 0:
        return returns.to(torch.float32)
    # decay[t] = gamma^(rows spanned) while t's window stays inside its episode, 0 once it ends.
    decay = torch.where(episode_ends, 0.0, gamma).to(torch.float64)
    longest, span = _longest_episode(episode_ends), 1
    while span < longest:
        returns = returns + decay * _shift_up(returns, span)
        decay = decay * _shift_up(decay, span)
        span *= 2
    if sparse_failure_reward is not None:
        returns = _apply_sparse_failure(
            returns, rewards, episode_ends, gamma, sparse_failure_reward
        )
    return returns.to(torch.float32)


def episode_returns(rewards: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray) -> np.ndarray:
    """Undiscounted return of every episode of flat D4RL arrays ``[N]`` (episodes end on a
    terminal or a timeout; the last row ends one, marked or not): ``[num_episodes]``."""
    ends = np.flatnonzero(np.asarray(terminals, bool) | np.asarray(timeouts, bool))
    splits = ends[ends < len(rewards) - 1] + 1
    return np.array([part.sum() for part in np.split(np.asarray(rewards).reshape(-1), splits)])


def _shift_up(x: Tensor, span: int) -> Tensor:
    """``x[t + span]`` at row ``t``, zero past the end: beyond the dataset nothing is added."""
    return torch.cat((x[span:], x.new_zeros(min(span, x.numel()))))


def _longest_episode(episode_ends: Tensor) -> int:
    """Length in rows of the longest episode; the last row closes an episode, marked or not."""
    ends = torch.nonzero(episode_ends).squeeze(-1)
    last = episode_ends.numel() - 1
    if ends.numel() == 0 or ends[-1] != last:
        ends = torch.cat((ends, ends.new_tensor([last])))
    starts = torch.cat((ends.new_tensor([-1]), ends[:-1]))
    return int((ends - starts).max())


def _episode_index(episode_ends: Tensor) -> Tensor:
    """``[N]`` int64 index of each row's episode; an end row belongs to the episode it ends."""
    ends = episode_ends.to(torch.int64)
    return torch.cumsum(ends, 0) - ends


def _apply_sparse_failure(
    returns: Tensor, rewards: Tensor, episode_ends: Tensor, gamma: float, failure_reward: float
) -> Tensor:
    """Replace the returns of all-failure episodes by ``failure_reward / (1 - gamma)``."""
    episode = _episode_index(episode_ends)
    is_failure = torch.isclose(
        rewards.to(torch.float64),
        torch.tensor(failure_reward, dtype=torch.float64),
        rtol=1e-6,
        atol=1e-6,
    )
    non_failures = torch.bincount(episode, weights=(~is_failure).to(torch.float64))
    failed_episode = (non_failures == 0)[episode]
    return torch.where(failed_episode, failure_reward / (1.0 - gamma), returns)
