"""Deterministic evaluation: normalized score per episode, and the Q diagnostics of WSRL Sec. 5."""
from __future__ import annotations

import math

import torch
from tensordict import TensorDictBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from torchrl_wsrl.data import mc_returns
from torchrl_wsrl.envs import Task, episode_score
from torchrl_wsrl.modules import EnsembleQCritic


def episode_q_diagnostics(episode: TensorDictBase, critic: EnsembleQCritic, task: Task, *, gamma: float) -> tuple[float, float]:
    """Mean predicted Q (mean over critics) and mean MC return over one episode's steps.

    The MC return is the discounted sum of the *scaled* rewards to the episode's end, with no
    bootstrap (so a time-limited episode under-counts its last steps). Over-estimation, i.e.
    predicted Q well above the MC return, is the divergence WSRL's warmup prevents (WSRL Sec. 5).
    """
    reward = task.scale_reward(episode.get(("next", "reward")).reshape(-1))
    ends = torch.zeros_like(reward, dtype=torch.bool)
    ends[-1] = True
    mc = mc_returns(reward, ends, gamma)
    q = critic.q_values(episode.get("observation"), episode.get("action")).mean(0)
    return q.mean().item(), mc.mean().item()


@torch.no_grad()
def evaluate(
    env: EnvBase,
    actor,
    task: Task,
    *,
    num_episodes: int,
    critic: EnsembleQCritic | None = None,
    gamma: float = 0.99,
    deterministic: bool = True,
) -> dict[str, float]:
    """Run ``num_episodes`` episodes of the deterministic policy (``tanh(loc)``), or with
    ``deterministic=False`` of the sampling policy (how a behaviour policy's data is collected).

    Returns ``score`` (mean of :func:`~torchrl_wsrl.envs.episode_score`, 0-100: D4RL normalized
    score, success rate or kitchen's final reward / 4), ``score_std`` (their standard deviation
    over the episodes, ``ddof=0``: the evaluation noise), ``episode_return`` (raw reward, mean),
    ``episode_length`` and, with a ``critic``, ``q_pred`` and ``q_mc_return`` (means over episodes
    of :func:`episode_q_diagnostics`).
    """
    scores, returns, lengths, q_pred, q_mc = [], [], [], [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM):
        for _ in range(num_episodes):
            episode = env.rollout(task.max_episode_steps, actor, break_when_any_done=True)
            rewards = episode.get(("next", "reward"))
            success = episode.get(("next", "is_success"), None)
            scores.append(episode_score(task, rewards, success))
            returns.append(rewards.sum().item())
            lengths.append(episode.numel())
            if critic is not None:
                q, mc = episode_q_diagnostics(episode, critic, task, gamma=gamma)
                q_pred.append(q)
                q_mc.append(mc)
    out = {
        "score": _mean(scores),
        "score_std": _std(scores),
        "episode_return": _mean(returns),
        "episode_length": _mean(lengths),
    }
    if critic is not None:
        out.update(q_pred=_mean(q_pred), q_mc_return=_mean(q_mc))
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _std(values: list[float]) -> float:
    mean = _mean(values)
    return math.sqrt(_mean([(v - mean) ** 2 for v in values]))
