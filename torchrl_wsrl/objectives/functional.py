"""The math of WSRL and Cal-QL as small pure functions on tensors.

Shapes: E critics, B transitions, n sampled actions per state. Ensemble outputs are
``[E, ..., 1]``. Nothing here calls ``.item()`` or branches on tensor values, so every function
can run inside ``torch.compile`` and a CUDA graph.
"""
from __future__ import annotations

import math

import torch


def td_target(reward: torch.Tensor, terminated: torch.Tensor, next_value: torch.Tensor, gamma: float) -> torch.Tensor:
    """One-step TD target ``y = r + gamma * (1 - terminated) * V(s')``.

    Args:
        reward: ``[B, 1]`` (scaled) rewards.
        terminated: ``[B, 1]`` bool or float; a truncated (time-limit) step is not terminated.
        next_value: ``[B, 1]`` value of the next state (e.g. min over drawn target critics).
        gamma: discount.

    Returns ``[B, 1]``. Source: Bellman backup, WSRL doc Phase 1 "TD target".
    """
    return reward + gamma * (1.0 - terminated.to(reward.dtype)) * next_value


def draw_critic_subset(num_critics: int, subsample_size: int, *, replace: bool, device: torch.device | str) -> torch.Tensor:
    """Indices ``[subsample_size]`` of the critics that form the target min, drawn on ``device``.

    With ``replace=True`` (the authors' code) an index may repeat; without, ``randperm``, and
    all ``num_critics`` without replacement is the whole ensemble: ``arange``, no draw (the
    random stream is left as a twin-critic SAC leaves it). Drawn on the device so a captured
    CUDA graph redraws it on every replay.

    Raises:
        ValueError: ``subsample_size`` outside ``[1, num_critics]`` when drawing without replacement.
    """
    if subsample_size < 1 or (not replace and subsample_size > num_critics):
        raise ValueError(f"subsample_size={subsample_size} is invalid for num_critics={num_critics} (replace={replace})")
    if replace:
        return torch.randint(num_critics, (subsample_size,), device=device)
    if subsample_size == num_critics:
        return torch.arange(num_critics, device=device)
    return torch.randperm(num_critics, device=device)[:subsample_size]


def max_target_backup(next_value_per_action: torch.Tensor) -> torch.Tensor:
    """Max over n sampled next actions of the (already min-reduced) target: ``[n, B, 1] -> [B, 1]``.

    CQL's "max target backup" (Kumar et al. 2020, App. F), used by the authors on antmaze.
    """
    return next_value_per_action.amax(dim=0)


def calibrate(q: torch.Tensor, mc_return: torch.Tensor) -> torch.Tensor:
    """Cal-QL's calibration ``max(Q(s, a), V^mu(s))`` with the MC return as V^mu.

    ``q`` ``[E, n, B]`` and ``mc_return`` ``[B, 1]`` (broadcast over critics and actions).
    Source: Cal-QL (Nakamoto et al. 2023), Eq. 5 / Algorithm 1.
    """
    return torch.maximum(q, mc_return.reshape(1, 1, -1))


def uniform_log_density(action_dim: int) -> float:
    """``log(0.5^A)``: log-density of the uniform distribution on ``[-1, 1]^A``."""
    return action_dim * math.log(0.5)


def cql_penalty(
    q_data: torch.Tensor,
    q_random: torch.Tensor,
    q_policy: torch.Tensor,
    q_next_policy: torch.Tensor,
    log_prob_policy: torch.Tensor,
    log_prob_next_policy: torch.Tensor,
    *,
    action_dim: int,
    importance_sample: bool = True,
    temperature: float = 1.0,
) -> torch.Tensor:
    """CQL regulariser per critic: ``mean_B[ T * logsumexp(Q_ood / T) - Q(s, a_data) ]``, shape ``[E]``.

    Args:
        q_data: ``[E, B, 1]`` Q of the dataset action.
        q_random: ``[E, n, B]`` Q of n uniform actions in ``[-1, 1]^A``.
        q_policy: ``[E, n, B]`` Q of n actions from ``pi(s)`` (already calibrated for Cal-QL).
        q_next_policy: ``[E, n, B]`` Q at s of n actions from ``pi(s')`` (likewise).
        log_prob_policy, log_prob_next_policy: ``[n, B]`` their log-densities (no gradient
            flows through them).
        action_dim: A, for the uniform proposal's density ``0.5^A``.
        importance_sample: subtract the log-density of each proposal (CQL(H) with importance
            sampling, Kumar et al. 2020 App. F). Without it (the authors' kitchen variant) the
            data action joins the set of ``3n + 1`` values and ``log(3n + 1)`` is subtracted.
        temperature: CQL temperature T.

    Source: CQL Eq. 4 / App. F; WSRL doc Phase 1 "CQL regulariser".
    """
    if importance_sample:
        ood = torch.cat(
            [
                q_random - uniform_log_density(action_dim),
                q_policy - log_prob_policy.detach(),
                q_next_policy - log_prob_next_policy.detach(),
            ],
            dim=1,
        )
        correction = 0.0
    else:
        ood = torch.cat([q_random, q_data.transpose(1, 2), q_policy, q_next_policy], dim=1)
        correction = math.log(ood.shape[1])
    lse = temperature * (torch.logsumexp(ood / temperature, dim=1) - correction)
    return (lse - q_data.squeeze(-1)).mean(dim=-1)


def reduce_loss(per_sample: torch.Tensor, reduction: str, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce per-sample losses ``[B]`` over the batch as TorchRL's losses do: ``"mean"``
    (weighted: ``sum(l w) / sum(w)``), ``"sum"`` (``sum(l w)``) or ``"none"`` (``l w``, ``[B]``);
    ``weights`` ``[B]`` are a prioritized replay buffer's importance weights (``None``: 1).

    Raises:
        ValueError: an unknown ``reduction``.
    """
    if weights is not None:
        weights = weights.reshape(per_sample.shape).to(per_sample.dtype)
    if reduction == "none":
        return per_sample if weights is None else per_sample * weights
    if reduction == "sum":
        return per_sample.sum() if weights is None else (per_sample * weights).sum()
    if reduction == "mean":
        return per_sample.mean() if weights is None else (per_sample * weights).sum() / weights.sum()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
