import math

import pytest
import torch
from tensordict import TensorDict

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss

OBS, ACT = 5, 2  # as in conftest.make_batch


def build(**kwargs):
    actor = make_actor(OBS, ACT, (16, 16))
    critic = EnsembleQCritic(OBS, ACT, num_critics=3, hidden_sizes=(16, 16))
    kwargs = {"cql_subsample_size": None, **kwargs}
    return CalQLLoss(actor, critic, action_dim=ACT, subsample_size=3, subsample_replace=False, **kwargs), actor, critic


def reference_critic_loss(loss, actor, critic, batch, *, n, calibrate, importance_sample, weight, drawn=None):
    """The Cal-QL critic loss written out step by step, consuming the RNG in the loss's order;
    ``drawn``: the CQL regulariser over that many critics, drawn without replacement."""
    obs, next_obs = batch["observation"], batch["next", "observation"]
    # TD target first (its next action; all 3 critics in the min: no draw), as in the loss
    with torch.no_grad():
        nd = actor.get_dist(TensorDict({"observation": next_obs}, [8]))
        na = nd.rsample_and_log_prob((1,))[0][0]
        with loss.target_qvalue_network_params.to_module(critic, preserve_module_state=False):
            nq = critic.q_values(next_obs, na).min(0).values
    y = batch["next", "reward"] + 0.99 * (~batch["next", "terminated"]).float() * nq
    a_rand = torch.empty(n, 8, ACT).uniform_(-1, 1)
    with torch.no_grad():
        pi = actor.get_dist(TensorDict({"observation": obs}, [8]))
        a_pi, lp_pi = pi.rsample_and_log_prob((n,))
        pi_next = actor.get_dist(TensorDict({"observation": next_obs}, [8]))
        a_next, lp_next = pi_next.rsample_and_log_prob((n,))
    members = list(range(3)) if drawn is None else torch.randperm(3)[:drawn].tolist()
    q_data = critic.q_values(obs, batch["action"])
    td = ((q_data - y) ** 2).mean()
    penalties = []
    for e in members:
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


@pytest.mark.parametrize("drawn", [1, 2])
def test_the_regulariser_over_drawn_critics_by_hand(batch, drawn):
    """The authors' ensemble CQL: the regulariser of ``drawn`` critics drawn afresh, the TD loss
    of all of them."""
    loss, actor, critic = build(cql_alpha=5.0, num_cql_actions=4, calibrate=True, cql_subsample_size=drawn)
    batch["mc_return"] = torch.randn(8, 1) * 3
    torch.manual_seed(11)
    out = loss.critic_loss(batch)
    torch.manual_seed(11)
    expected, penalty = reference_critic_loss(loss, actor, critic, batch, n=4, calibrate=True, importance_sample=True, weight=5.0, drawn=drawn)
    assert out["cql_penalty"].item() == pytest.approx(penalty.item(), rel=1e-4)
    assert out["loss_qvalue"].item() == pytest.approx(expected.item(), rel=1e-4)


def test_drawn_critics_only_are_evaluated_on_the_proposals(batch, monkeypatch):
    """Evaluating only the drawn critics on the 3n proposals, not all E and then indexing."""
    loss, actor, critic = build(num_cql_actions=4, cql_subsample_size=2)
    batch["mc_return"] = torch.randn(8, 1)
    shapes = []
    q_values = critic.q_values

    def recording(observation, action, critics=None):
        out = q_values(observation, action, critics)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(critic, "q_values", recording)
    loss.critic_loss(batch)
    assert (2, 12, 8, 1) in shapes and (3, 12, 8, 1) not in shapes


def test_drawn_critics_give_the_all_critics_regulariser_in_expectation(batch, monkeypatch):
    """A uniform draw of one critic, enumerated: the mean over the E possible draws of the drawn
    regulariser is the all-critics average (same proposals: reseeded before each call)."""
    all_loss, actor, critic = build(num_cql_actions=4, calibrate=False)
    drawn_loss, _, _ = build(num_cql_actions=4, calibrate=False, cql_subsample_size=1)
    drawn_loss.load_state_dict(all_loss.state_dict())
    torch.manual_seed(3)
    everything = all_loss.critic_loss(batch)["cql_penalty"]
    per_draw = []
    for e in range(3):
        monkeypatch.setattr(drawn_loss, "_cql_critics", lambda device, e=e: torch.tensor([e], device=device))
        torch.manual_seed(3)
        per_draw.append(drawn_loss.critic_loss(batch)["cql_penalty"])
    assert torch.stack(per_draw).mean().item() == pytest.approx(everything.item(), rel=1e-5)
    assert torch.stack(per_draw).std().item() > 1e-4, "the critics' regularisers differ"
