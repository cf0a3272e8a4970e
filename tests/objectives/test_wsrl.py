import pytest
import torch
from tensordict import TensorDict
from torch import nn
from torchrl.data import Bounded
from torchrl.modules import ValueOperator
from torchrl.objectives import SACLoss

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss

OBS, ACT = 5, 2  # as in conftest.make_batch


def build(num_critics=4, **kwargs):
    actor = make_actor(OBS, ACT, (16, 16))
    critic = EnsembleQCritic(OBS, ACT, num_critics=num_critics, hidden_sizes=(16, 16))
    return WSRLLoss(actor, critic, action_dim=ACT, **kwargs), actor, critic


def test_critic_loss_by_hand(batch):
    """min over all E target critics (subsample E without replacement), no entropy backup."""
    loss, actor, critic = build(num_critics=3, subsample_size=3, subsample_replace=False)
    with torch.no_grad():  # make target and online critics differ
        for p in loss.target_qvalue_network_params.values(True, True):
            p.add_(0.1 * torch.randn_like(p))
    torch.manual_seed(3)
    out = loss.critic_loss(batch)

    torch.manual_seed(3)
    dist = actor.get_dist(TensorDict({"observation": batch["next", "observation"]}, [8]))
    next_action = dist.rsample_and_log_prob((1,))[0][0]
    with loss.target_qvalue_network_params.to_module(critic, preserve_module_state=False):
        next_q = critic.q_values(batch["next", "observation"], next_action)
    y = batch["next", "reward"] + 0.99 * (~batch["next", "terminated"]).float() * next_q.min(0).values
    q = critic.q_values(batch["observation"], batch["action"])
    expected = sum(((q[i] - y) ** 2).mean() for i in range(3)) / 3
    assert out["loss_qvalue"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("reduction", ["min", "mean"])
def test_actor_loss_by_hand(batch, reduction):
    loss, actor, critic = build(actor_q_reduction=reduction, alpha_init=0.5)
    torch.manual_seed(5)
    loss_actor, log_prob = loss.actor_loss(batch)
    torch.manual_seed(5)
    dist = actor.get_dist(TensorDict({"observation": batch["observation"]}, [8]))
    action, log_prob_ref = dist.rsample_and_log_prob()
    q = critic.q_values(batch["observation"], action)
    q = q.min(0).values if reduction == "min" else q.mean(0)
    expected = (0.5 * log_prob_ref - q.squeeze(-1)).mean()
    assert loss_actor.item() == pytest.approx(expected.item(), rel=1e-5)
    assert log_prob.shape == (8,)


def test_alpha_loss_by_hand():
    loss, _, _ = build(alpha_init=2.0)
    log_prob = torch.tensor([-1.0, 3.0])
    # -log(alpha) * (log_prob + target_entropy), target entropy = -|A| = -2
    expected = -torch.log(torch.tensor(2.0)) * torch.tensor([-3.0, 1.0]).mean()
    assert loss.alpha_loss(log_prob).item() == pytest.approx(expected.item(), rel=1e-6)


def test_max_target_backup_takes_max_over_actions(batch):
    loss, _, _ = build(max_target_backup=True, num_target_actions=10, subsample_size=4, subsample_replace=False)
    torch.manual_seed(0)
    backed_up = loss.next_value(batch)
    loss.max_target_backup, loss.num_target_actions = False, 1
    single = torch.stack([loss.next_value(batch) for _ in range(10)])
    assert backed_up.shape == (8, 1)
    # the max over 10 draws sits above a typical single draw
    assert (backed_up >= single.median(0).values - 1e-6).all()


def test_gradient_isolation(batch):
    loss, actor, critic = build()
    actor_params = list(actor.parameters())
    critic_params = list(critic.parameters())

    loss.critic_loss(batch)["loss_qvalue"].backward()
    assert all(p.grad is None for p in actor_params), "the critic loss moved the actor"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic_params)
    assert all(not p.requires_grad and p.grad is None for p in loss.target_qvalue_network_params.values(True, True))
    assert loss.log_alpha.grad is None

    for p in critic_params:
        p.grad = None
    loss_actor, log_prob = loss.actor_loss(batch)
    loss_actor.backward()
    assert all(p.grad is None for p in critic_params), "the actor loss moved a critic"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in actor_params)
    assert loss.log_alpha.grad is None

    for p in actor_params:
        p.grad = None
    loss.alpha_loss(log_prob).backward()
    assert all(p.grad is None for p in actor_params + critic_params)
    assert loss.log_alpha.grad is not None


def test_forward_outputs_and_value_estimator(batch):
    loss, _, _ = build()
    out = loss(batch)
    assert {"loss_qvalue", "loss_actor", "loss_alpha", "alpha", "entropy"} <= set(out.keys())
    assert all(out[k].shape == () for k in out.keys())
    loss.make_value_estimator(gamma=0.5)
    assert loss.gamma == 0.5
    from torchrl.objectives import ValueEstimators

    with pytest.raises(NotImplementedError, match="TD0"):
        loss.make_value_estimator(ValueEstimators.GAE)


def test_bad_options():
    with pytest.raises(ValueError, match="actor_q_reduction"):
        build(actor_q_reduction="max")
    with pytest.raises(ValueError, match="subsample_size"):
        build(num_critics=2, subsample_size=3, subsample_replace=False)


# --- against TorchRL's SACLoss: 2 critics, min over both, entropy backup = SAC --------------

class _StackedMember(nn.Module):
    """One member of our ensemble as a plain torch MLP, for TorchRL's vmapped critics."""

    def __init__(self, hidden):
        super().__init__()
        widths = [OBS + ACT, *hidden]
        layers = []
        for i, o in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(i, o), nn.LayerNorm(o, eps=1e-6), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def forward(self, observation, action):
        return self.net(torch.cat([observation, action], -1))


def _copy_ensemble_into(sac_params, ensemble):
    mlp = ensemble.net
    linears = [m for m in range(0, 3 * len(mlp.weights), 3)]
    with torch.no_grad():
        for layer, idx in enumerate(linears):
            sac_params["module", "net", str(idx), "weight"].copy_(mlp.weights[layer].transpose(1, 2))
            sac_params["module", "net", str(idx), "bias"].copy_(mlp.biases[layer])
            sac_params["module", "net", str(idx + 1), "weight"].copy_(mlp.ln_weights[layer])
            sac_params["module", "net", str(idx + 1), "bias"].copy_(mlp.ln_biases[layer])
        head = str(3 * len(mlp.weights))
        sac_params["module", "net", head, "weight"].copy_(mlp.head_weight.transpose(1, 2))
        sac_params["module", "net", head, "bias"].copy_(mlp.head_bias)


def test_matches_torchrl_sacloss_when_configurations_coincide(batch):
    hidden = (16, 16)
    actor = make_actor(OBS, ACT, hidden)
    ensemble = EnsembleQCritic(OBS, ACT, num_critics=2, hidden_sizes=hidden)
    ours = WSRLLoss(actor, ensemble, action_dim=ACT, subsample_size=2, subsample_replace=False, backup_entropy=True, alpha_init=0.7)
    theirs = SACLoss(
        actor,
        ValueOperator(_StackedMember(hidden), in_keys=["observation", "action"]),
        num_qvalue_nets=2,
        loss_function="l2",
        alpha_init=0.7,
        action_spec=Bounded(-1.0, 1.0, (ACT,)),
    )
    theirs.make_value_estimator(gamma=0.99)
    _copy_ensemble_into(theirs.qvalue_network_params, ensemble)
    _copy_ensemble_into(theirs.target_qvalue_network_params, ensemble)
    ours.target_qvalue_network_params.update_(ours.qvalue_network_params.data)

    torch.manual_seed(11)
    out_ours = ours.critic_loss(batch.clone())
    torch.manual_seed(11)
    out_theirs = theirs(batch.clone())
    # TorchRL sums the squared TD error over critics; WSRL averages it (doc: "mean over critics").
    assert out_ours["loss_qvalue"].item() * 2 == pytest.approx(out_theirs["loss_qvalue"].item(), rel=1e-4)

    # Our critic loss also draws the critic subset, so the actor is compared from a fresh seed.
    torch.manual_seed(12)
    loss_actor, log_prob = ours.actor_loss(batch.clone())
    torch.manual_seed(12)
    their_actor, metadata = theirs.actor_loss(batch.clone())
    assert loss_actor.item() == pytest.approx(their_actor.mean().item(), rel=1e-4, abs=1e-5)
    assert log_prob.detach().numpy() == pytest.approx(metadata["log_prob"].detach().numpy(), rel=1e-4, abs=1e-5)
    assert ours.alpha_loss(log_prob).item() == pytest.approx(theirs.alpha_loss(metadata["log_prob"]).mean().item(), rel=1e-4, abs=1e-6)


def test_log_prob_of_saturated_actions_scores_the_pre_tanh_draw(batch):
    """Far in tanh's tail, ``log_prob(rsample())`` cannot recover the draw; the loss must score
    the Normal draw itself: log N(u) - sum log(1 - tanh(u)^2)."""
    loss, actor, _ = build()
    with torch.no_grad():
        head = actor.module[0].module.trunk[-1]
        head.bias[:ACT] = 12.0  # loc = 12: tanh(u) rounds to 1 in float32
    torch.manual_seed(0)
    action, log_prob = loss._sample(batch["observation"])
    dist = actor.get_dist(TensorDict({"observation": batch["observation"]}, [8]))
    loc, scale = dist.loc, dist.scale
    torch.manual_seed(0)
    u = loc + scale * torch.randn_like(loc)
    log_det = 2 * (torch.log(torch.tensor(2.0)) - u - torch.nn.functional.softplus(-2 * u))
    expected = (torch.distributions.Normal(loc, scale).log_prob(u) - log_det).sum(-1)
    torch.testing.assert_close(log_prob, expected, rtol=1e-4, atol=1e-3)
