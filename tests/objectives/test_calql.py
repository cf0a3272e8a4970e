import math

import pytest
import torch
from tensordict import TensorDict
from torch.nn import functional as F

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss

OBS, ACT = 5, 2  # as in conftest.make_batch


def build(**kwargs):
    actor = make_actor(OBS, ACT, (16, 16))
    critic = EnsembleQCritic(OBS, ACT, num_critics=3, hidden_sizes=(16, 16))
    return CalQLLoss(actor, critic, action_dim=ACT, subsample_size=3, subsample_replace=False, **kwargs), actor, critic


def reference_critic_loss(loss, actor, critic, batch, *, n, calibrate, importance_sample, weight):
    """The Cal-QL critic loss written out step by step, consuming the RNG in the loss's order."""
    obs, next_obs = batch["observation"], batch["next", "observation"]
    with torch.no_grad():
        pi = actor.get_dist(TensorDict({"observation": obs}, [8]))
        a_pi, lp_pi = pi.rsample_and_log_prob((n,))
        pi_next = actor.get_dist(TensorDict({"observation": next_obs}, [8]))
        a_next, lp_next = pi_next.rsample_and_log_prob((n,))
    a_rand = torch.rand_like(a_pi) * 2 - 1
    # TD target (drawn after the proposals, as in the loss)
    with torch.no_grad():
        nd = actor.get_dist(TensorDict({"observation": next_obs}, [8]))
        na = nd.rsample_and_log_prob((1,))[0][0]
        with loss.target_qvalue_network_params.to_module(critic, preserve_module_state=False):
            nq = critic.q_values(next_obs, na).min(0).values
    y = batch["next", "reward"] + 0.99 * (~batch["next", "terminated"]).float() * nq
    q_data = critic.q_values(obs, batch["action"])
    td = ((q_data - y) ** 2).mean()
    penalties = []
    for e in range(3):
        per_b = []
        for b in range(8):
            def q(a):
                return critic.q_values(obs[b].expand(n, OBS), a[:, b])[e, :, 0]

            qr, qp, qn = q(a_rand), q(a_pi), q(a_next)
            if calibrate:
                qp, qn = qp.clamp(min=batch["mc_return"][b, 0]), qn.clamp(min=batch["mc_return"][b, 0])
            if importance_sample:
                vals = torch.cat([qr - ACT * math.log(0.5), qp - lp_pi[:, b], qn - lp_next[:, b]])
                lse = torch.logsumexp(vals, 0)
            else:
                vals = torch.cat([qr, q_data[e, b], qp, qn])
                lse = torch.logsumexp(vals, 0) - math.log(3 * n + 1)
            per_b.append(lse - q_data[e, b, 0])
        penalties.append(torch.stack(per_b).mean())
    penalty = torch.stack(penalties).mean()
    return td + weight * penalty, penalty


@pytest.mark.parametrize(
    "calibrate,importance_sample", [(True, True), (False, True), (True, False)], ids=["calql", "cql", "calql-no-is"]
)
def test_critic_loss_by_hand(batch, calibrate, importance_sample):
    loss, actor, critic = build(cql_alpha=5.0, num_cql_actions=4, calibrate=calibrate, importance_sample=importance_sample)
    batch["mc_return"] = torch.randn(8, 1) * 3  # some bounds bind, some don't
    torch.manual_seed(7)
    out = loss.critic_loss(batch)
    torch.manual_seed(7)
    expected, penalty = reference_critic_loss(loss, actor, critic, batch, n=4, calibrate=calibrate, importance_sample=importance_sample, weight=5.0)
    assert out["cql_penalty"].item() == pytest.approx(penalty.item(), rel=1e-4)
    assert out["loss_qvalue"].item() == pytest.approx(expected.item(), rel=1e-4)


def test_calibration_raises_the_penalty_when_mc_returns_are_high(batch):
    loss, _, _ = build(num_cql_actions=4)
    batch["mc_return"] = torch.full((8, 1), 100.0)
    torch.manual_seed(0)
    calibrated = loss.critic_loss(batch)["cql_penalty"]
    loss.calibrate = False
    torch.manual_seed(0)
    plain = loss.critic_loss(batch)["cql_penalty"]
    assert calibrated > plain + 50  # max(Q, 100) dominates the logsumexp


def test_lagrange_multiplier(batch):
    loss, actor, critic = build(cql_lagrange=True, cql_target_gap=0.8, cql_alpha_init=1.0, num_cql_actions=4)
    assert F.softplus(loss.cql_alpha_raw).item() == pytest.approx(1.0, rel=1e-6)
    out = loss.critic_loss(batch)
    assert out["loss_cql_alpha"].item() == pytest.approx(-(out["cql_penalty"].item() - 0.8), rel=1e-5)
    assert set(loss.parameter_groups()) == {"critic", "actor", "alpha", "cql_alpha"}

    out["loss_cql_alpha"].backward()
    assert loss.cql_alpha_raw.grad is not None
    assert all(p.grad is None for p in critic.parameters()), "the multiplier's loss moved a critic"

    loss.cql_alpha_raw.grad = None
    loss.critic_loss(batch)["loss_qvalue"].backward()
    assert loss.cql_alpha_raw.grad is None, "the critic loss moved the multiplier"
    assert all(p.grad is None for p in actor.parameters()), "the CQL proposals moved the actor"


def test_fixed_weight_has_no_multiplier():
    loss, _, _ = build(cql_alpha=1.0)
    assert set(loss.parameter_groups()) == {"critic", "actor", "alpha"}
    assert loss.cql_weight().item() == 1.0
