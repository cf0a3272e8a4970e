import pytest
import torch
from tensordict import TensorDict

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

OBS, ACT = 4, 2


def batch(n):
    return TensorDict(
        {
            "observation": torch.randn(n, OBS),
            "action": torch.rand(n, ACT) * 2 - 1,
            "mc_return": torch.randn(n, 1),
            "next": {
                "observation": torch.randn(n, OBS),
                "reward": torch.randn(n, 1),
                "terminated": torch.zeros(n, 1, dtype=torch.bool),
                "done": torch.zeros(n, 1, dtype=torch.bool),
            },
        },
        [n],
    )


def build(loss_cls=WSRLLoss, **kwargs):
    loss = loss_cls(make_actor(OBS, ACT, (8,)), EnsembleQCritic(OBS, ACT, num_critics=4, hidden_sizes=(8,)), action_dim=ACT, **kwargs)
    return loss, make_optimizers(loss)


def flat(params):
    return torch.cat([p.detach().reshape(-1) for p in params.values(True, True)])


def test_utd_block_steps_critic_utd_times_and_actor_once():
    loss, optimizers = build()
    update = UpdateStep(loss, optimizers, utd_ratio=4)
    metrics = update(batch(32))
    steps = {name: next(iter(opt.state.values()))["step"].item() for name, opt in optimizers.items()}
    assert steps == {"critic": 4, "actor": 1, "alpha": 1}
    assert {"loss_qvalue", "loss_actor", "loss_alpha", "alpha", "entropy", "q_mean"} <= set(metrics.keys())
    assert all(v.shape == () and not v.requires_grad for v in metrics.values())


def test_polyak_after_every_critic_step():
    loss, optimizers = build()
    UpdateStep(loss, optimizers, utd_ratio=4, tau=1.0)(batch(32))
    # tau = 1 copies the critics after each critic step: the targets end equal to the critics.
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), flat(loss.qvalue_network_params))

    loss, optimizers = build()
    before = flat(loss.target_qvalue_network_params).clone()
    UpdateStep(loss, optimizers, utd_ratio=2, tau=0.0)(batch(16))
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), before)
    assert not torch.allclose(flat(loss.qvalue_network_params), before)


def test_polyak_matches_the_formula():
    loss, optimizers = build()
    target0 = flat(loss.target_qvalue_network_params).clone()
    update = UpdateStep(loss, optimizers, utd_ratio=1, tau=0.1)
    update(batch(8))
    expected = 0.9 * target0 + 0.1 * flat(loss.qvalue_network_params)
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), expected)


def test_minibatches_are_disjoint_slices():
    loss, optimizers = build()
    seen = []
    original = loss.critic_loss
    loss.critic_loss = lambda td: seen.append(td["observation"].clone()) or original(td)
    data = batch(12)
    UpdateStep(loss, optimizers, utd_ratio=3)(data)
    torch.testing.assert_close(torch.cat(seen), data["observation"])


def test_lagrange_calql_steps_the_multiplier_with_the_critic():
    loss, optimizers = build(CalQLLoss, cql_lagrange=True, num_cql_actions=2)
    before = loss.cql_alpha_raw.detach().clone()
    metrics = UpdateStep(loss, optimizers, utd_ratio=1)(batch(8))
    assert "cql_penalty" in metrics.keys()
    assert loss.cql_alpha_raw.detach() != before


def test_batch_must_split_evenly():
    loss, optimizers = build()
    with pytest.raises(ValueError, match="multiple of utd_ratio"):
        UpdateStep(loss, optimizers, utd_ratio=4)(batch(10))
    with pytest.raises(ValueError, match="utd_ratio"):
        UpdateStep(loss, optimizers, utd_ratio=0)
