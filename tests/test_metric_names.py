"""Metric names are defined once (torchrl_wsrl.metrics): what the producers emit is exactly
what metrics.csv declares."""
import pytest
import torch
from tensordict import TensorDict

from torchrl_wsrl.envs import get_task, make_env
from torchrl_wsrl.evaluation import evaluate
from torchrl_wsrl.metrics import EVALUATION_COLUMNS, Q_EVALUATION_COLUMNS, UPDATE_COLUMNS
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

OBS, ACT, B = 11, 3, 8


def batch() -> TensorDict:
    return TensorDict(
        {
            "observation": torch.randn(B, OBS), "action": torch.rand(B, ACT) * 2 - 1, "mc_return": torch.randn(B, 1),
            "next": {"observation": torch.randn(B, OBS), "reward": torch.randn(B, 1),
                     "done": torch.zeros(B, 1, dtype=torch.bool), "terminated": torch.zeros(B, 1, dtype=torch.bool)},
        },
        [B],
    )


def update_keys(loss) -> set[str]:
    return set(UpdateStep(loss, make_optimizers(loss), utd_ratio=2)(batch()).keys())


def test_update_metrics_are_the_declared_update_columns():
    make = lambda: (make_actor(OBS, ACT, (16,)), EnsembleQCritic(OBS, ACT, num_critics=3, hidden_sizes=(16,)))
    online = update_keys(WSRLLoss(*make(), action_dim=ACT))
    lagrange = update_keys(CalQLLoss(*make(), action_dim=ACT, cql_lagrange=True, num_cql_actions=2))
    assert online <= lagrange and lagrange == set(UPDATE_COLUMNS)


@pytest.mark.parametrize("with_critic", [True, False])
def test_evaluation_metrics_are_the_declared_evaluation_columns(with_critic):
    task = get_task("hopper-medium")
    critic = EnsembleQCritic(task.obs_dim, task.action_dim, num_critics=2, hidden_sizes=(16,)) if with_critic else None
    out = evaluate(make_env(task, seed=0), make_actor(task.obs_dim, task.action_dim, (16,)), task, num_episodes=1, critic=critic)
    expected = [c for c in EVALUATION_COLUMNS if with_critic or c not in Q_EVALUATION_COLUMNS]
    assert list(out) == list(expected)
