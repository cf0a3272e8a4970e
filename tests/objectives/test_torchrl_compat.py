"""The losses as a TorchRL user composes them: any Q-value module (ValueOperator(MLP)) made into
an ensemble, the action spec, prioritized replay's keys, reductions, selected outputs, and
equality with TorchRL's own SACLoss, REDQLoss and CQLLoss where the configurations coincide."""
import pytest
import torch
from tensordict import TensorDict
from torch import nn
from torchrl.data import Bounded
from torchrl.modules import MLP, ValueOperator
from torchrl.objectives import CQLLoss, REDQLoss, SACLoss, ValueEstimators

import torchrl_wsrl.objectives.ensemble_sac as ensemble_sac
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss

OBS, ACT, E, HIDDEN = 5, 2, 4, (16, 16)


def value_operator(hidden=HIDDEN, layer_norm=True):
    """A TorchRL Q-value module with the layers of one EnsembleQCritic member: Linear ->
    LayerNorm -> ReLU per hidden layer, a linear head."""
    norm = dict(norm_class=nn.LayerNorm, norm_kwargs=[{"normalized_shape": h, "eps": 1e-6} for h in hidden]) if layer_norm else {}
    mlp = MLP(in_features=OBS + ACT, out_features=1, num_cells=list(hidden), activation_class=nn.ReLU, **norm)
    return ValueOperator(mlp, in_keys=["observation", "action"])


def load_ensemble_into(loss, critic: EnsembleQCritic) -> None:
    """Copy an EnsembleQCritic's stacked weights into ``loss``'s stacked ValueOperator copies
    (live and target): member i -> copy i, ``x @ W`` -> ``Linear(W.T)``."""
    net = critic.net
    for params in (loss.qvalue_network_params, loss.target_qvalue_network_params):
        layers = sorted({k[1] for k in params.keys(True, True)}, key=int)  # ("module", "<i>", "weight")
        linear = [i for i in layers if params["module", i, "weight"].ndim == 3]  # [E, out, in]
        norms = [i for i in layers if params["module", i, "weight"].ndim == 2]  # LayerNorm [E, width]
        with torch.no_grad():
            for depth, i in enumerate(linear):
                last = depth == len(linear) - 1
                weight = net.head_weight if last else net.weights[depth]
                bias = net.head_bias if last else net.biases[depth]
                params["module", i, "weight"].copy_(weight.transpose(1, 2))
                params["module", i, "bias"].copy_(bias)
            for depth, i in enumerate(norms):
                params["module", i, "weight"].copy_(net.ln_weights[depth])
                params["module", i, "bias"].copy_(net.ln_biases[depth])


def batch(n=32):
    return TensorDict(
        {
            "observation": torch.randn(n, OBS), "action": torch.rand(n, ACT) * 2 - 1, "mc_return": torch.randn(n, 1) * 5,
            "next": {
                "observation": torch.randn(n, OBS), "reward": torch.randn(n, 1),
                "terminated": torch.rand(n, 1) < 0.2, "done": torch.zeros(n, 1, dtype=torch.bool),
            },
        },
        [n],
    )


@pytest.mark.parametrize("loss_cls, kwargs", [
    (WSRLLoss, {}),
    (WSRLLoss, {"max_target_backup": True, "num_target_actions": 3, "backup_entropy": True}),
    (CalQLLoss, {"num_cql_actions": 3}),
    (CalQLLoss, {"num_cql_actions": 3, "calibrate": False, "cql_subsample_size": None}),
])
def test_a_value_operator_ensemble_equals_the_stacked_critic_with_the_same_weights(loss_cls, kwargs):
    torch.manual_seed(0)
    actor = make_actor(OBS, ACT, HIDDEN)
    critic = EnsembleQCritic(OBS, ACT, num_critics=E, hidden_sizes=HIDDEN)
    stacked = loss_cls(actor, critic, **kwargs)
    vmapped = loss_cls(actor, value_operator(), num_qvalue_nets=E, **kwargs)
    load_ensemble_into(vmapped, critic)
    data = batch()
    outs, grads = [], []
    for loss in (stacked, vmapped):
        torch.manual_seed(1)
        out = loss(data.clone())
        total = out["loss_qvalue"] + out["loss_actor"] + out["loss_alpha"]
        params = list(loss.qvalue_network_params.values(True, True)) + list(actor.parameters()) + [loss.log_alpha]
        grads.append([g.flatten() for g in torch.autograd.grad(total, params, allow_unused=True) if g is not None])
        outs.append(out)
    for key in outs[0].keys():
        torch.testing.assert_close(outs[1][key], outs[0][key], rtol=1e-5, atol=1e-5, msg=key)
    # The critic gradients, flattened per layer, hold the same numbers (layouts differ: W vs W.T).
    g0, g1 = torch.cat(grads[0]), torch.cat(grads[1])
    torch.testing.assert_close(g1.abs().sort().values, g0.abs().sort().values, rtol=1e-4, atol=1e-6)


def torchrl_twin(cls, ours, actor, spec, **kwargs):
    """TorchRL's ``cls`` (l2, TD0, alpha 1) on ``ours``' actor, live and target critics."""
    theirs = cls(actor, value_operator(), loss_function="l2", alpha_init=1.0, action_spec=spec, delay_qvalue=True, **kwargs)
    theirs.make_value_estimator(ValueEstimators.TD0, gamma=ours.gamma)
    with torch.no_grad():
        theirs.qvalue_network_params.data.update_(ours.qvalue_network_params.data)
        theirs.target_qvalue_network_params.data.update_(ours.target_qvalue_network_params.data)
    return theirs


def perturbed(loss):
    with torch.no_grad():  # a live critic apart from its target
        for p in loss.qvalue_network_params.values(True, True):
            p.add_(0.05 * torch.randn_like(p))
    return loss


def test_with_two_critics_wsrl_equals_torchrl_sac_loss():
    """WSRLLoss with 2 critics, both in the target min (drawn without replacement), the entropy
    in the backup and the same draws equals TorchRL's SACLoss: its ``loss_qvalue`` sums the two
    critics' squared errors, ours averages them (x2), the actor and temperature losses alike."""
    torch.manual_seed(0)
    spec = Bounded(-1.0, 1.0, (ACT,))
    actor = make_actor(OBS, ACT, HIDDEN)
    ours = WSRLLoss(actor, value_operator(), num_qvalue_nets=2, subsample_size=2, subsample_replace=False, backup_entropy=True, action_spec=spec)
    perturbed(ours)
    sac = torchrl_twin(SACLoss, ours, actor, spec, num_qvalue_nets=2)
    data = batch()
    torch.manual_seed(3)
    q_ours = ours.critic_loss(data.clone())["loss_qvalue"]
    torch.manual_seed(3)
    q_sac, _ = sac.qvalue_v2_loss(data.clone())
    torch.testing.assert_close(2 * q_ours, q_sac, rtol=1e-4, atol=1e-5)
    torch.manual_seed(4)
    actor_ours, log_prob_ours = ours.actor_loss(data.clone())
    torch.manual_seed(4)
    actor_sac, meta = sac.actor_loss(data.clone())
    torch.testing.assert_close(actor_ours, actor_sac.mean(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.alpha_loss(log_prob_ours), sac.alpha_loss(meta["log_prob"]).mean(), rtol=1e-4, atol=1e-5)
    assert ours.target_entropy == sac.target_entropy.item() == -ACT


def test_wsrl_equals_torchrl_redq_loss_with_the_same_draws(monkeypatch):
    """REDQ (Chen et al. 2021) is WSRL's online loss with 2 of E critics drawn without
    replacement for the target min, the entropy in the backup and the actor on the mean over
    all critics. REDQLoss draws the critics first, then the actions at s and s' in one call: the
    same seed replays them into ``actor_loss`` then ``critic_loss`` (its critic draw given).
    Its TD error for a prioritized buffer is squared, ours is not; its temperature loss is on
    alpha over the s and s' samples, ours on log alpha over s (not compared)."""
    torch.manual_seed(0)
    spec = Bounded(-1.0, 1.0, (ACT,))
    actor = make_actor(OBS, ACT, HIDDEN)
    ours = perturbed(WSRLLoss(
        actor, value_operator(), num_qvalue_nets=E, subsample_size=2, subsample_replace=False,
        backup_entropy=True, actor_q_reduction="mean", action_spec=spec,
    ))
    redq = torchrl_twin(REDQLoss, ours, actor, spec, num_qvalue_nets=E, sub_sample_len=2)
    data = batch()  # 32 x 2 actions: whole 16-blocks of normals, so one draw of [2, B, A] is two of [B, A]
    theirs = data.clone()
    torch.manual_seed(3)
    out = redq(theirs)
    torch.manual_seed(3)
    critics = torch.randperm(E)[: redq.sub_sample_len].sort().values
    assert not torch.equal(critics, torch.arange(2))  # a draw that matters
    monkeypatch.setattr(ensemble_sac, "draw_critic_subset", lambda *args, **kwargs: critics)
    loss_actor, _ = ours.actor_loss(data)
    critic = ours.critic_loss(data)
    torch.testing.assert_close(critic["loss_qvalue"], out["loss_qvalue"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(critic["td_target_mean"], out["target_value"].mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss_actor, out["loss_actor"], rtol=1e-5, atol=1e-6)
    torch.manual_seed(3)
    torch.randperm(E)  # REDQ's critic draw,
    torch.randn(32, ACT)  # and its draws at s: forward's critic step then sees those at s'
    ours(data)
    torch.testing.assert_close(data["td_error"] ** 2, theirs["td_error"], rtol=1e-5, atol=1e-6)


def test_calql_without_calibration_equals_torchrl_cql_loss_where_they_coincide():
    """CalQLLoss(calibrate=False) is CQL(H) (Kumar et al. 2020, Eq. 4, importance-sampled) and
    equals TorchRL's CQLLoss where their settings coincide: 2 critics, both in the target min, no
    entropy in the backup (``deterministic_backup``), CQL weight 1 (``min_q_weight``), temperature
    1, the regulariser over both critics, the actor on the min of the critics, and one action
    per proposal: TorchRL lays n proposals out sample-major ``[B * n]``, ours ``[n, B]``, so the
    same draws land on other samples for n > 1. TorchRL scores the next-state proposals
    ``a' ~ pi(s')`` at s', the CQL and WSRL authors at s: the batch has s' = s so both read the
    same values. TorchRL sums the two critics' losses, ours averages them (x2)."""
    torch.manual_seed(0)
    spec = Bounded(-1.0, 1.0, (ACT,))
    actor = make_actor(OBS, ACT, HIDDEN)
    ours = perturbed(CalQLLoss(
        actor, value_operator(), num_qvalue_nets=2, subsample_size=2, subsample_replace=False, backup_entropy=False,
        calibrate=False, cql_alpha=1.0, num_cql_actions=1, cql_subsample_size=None, actor_q_reduction="min", action_spec=spec,
    ))
    cql = torchrl_twin(CQLLoss, ours, actor, spec, num_random=1)
    for loss in (ours, cql):
        loss.log_alpha.data.fill_(0.3)
    data = batch()
    data["next", "observation"] = data["observation"].clone()
    theirs = data.clone()
    torch.manual_seed(3)
    loss_qvalue, _ = cql.q_loss(theirs)
    loss_cql, _ = cql.cql_loss(theirs)
    torch.manual_seed(3)
    critic = ours.critic_loss(data.clone())
    torch.testing.assert_close(2 * critic["loss_qvalue"], loss_qvalue + loss_cql, rtol=1e-5, atol=1e-5)
    torch.manual_seed(4)
    actor_theirs, meta = cql.actor_loss(data.clone())
    torch.manual_seed(4)
    actor_ours, log_prob = ours.actor_loss(data.clone())
    torch.testing.assert_close(actor_ours, actor_theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.alpha_loss(log_prob), cql.alpha_loss(meta)[0], rtol=1e-5, atol=1e-6)
    torch.manual_seed(5)
    cql(theirs)
    torch.manual_seed(5)
    ours(data)
    torch.testing.assert_close(data["td_error"] ** 2, theirs["td_error"], rtol=1e-5, atol=1e-6)


def test_the_td_error_is_written_for_a_prioritized_buffer_and_weights_are_read():
    torch.manual_seed(0)
    loss = WSRLLoss(make_actor(OBS, ACT, HIDDEN), value_operator(), num_qvalue_nets=E)
    data = batch()
    loss(data)
    assert data["td_error"].shape == (32,) and (data["td_error"] >= 0).all()
    loss.set_keys(priority="prio")
    loss(data)
    assert "prio" in data.keys()
    # Importance weights of 2 on half the batch: the weighted mean of the per-sample losses.
    none = WSRLLoss(loss.actor_network, value_operator(), num_qvalue_nets=E, reduction="none")
    none.qvalue_network_params.data.update_(loss.qvalue_network_params.data)
    none.target_qvalue_network_params.data.update_(loss.target_qvalue_network_params.data)
    weights = torch.ones(32)
    weights[:16] = 2
    torch.manual_seed(5)
    per_sample = none.critic_loss(data.clone())["loss_qvalue"]
    assert per_sample.shape == (32,)
    torch.manual_seed(5)
    weighted = loss.critic_loss(data.clone().set("priority_weight", weights))["loss_qvalue"]
    torch.testing.assert_close(weighted, (per_sample * weights).sum() / weights.sum())


def test_select_out_keys_reduction_and_a_call_without_a_tensordict():
    torch.manual_seed(0)
    loss = WSRLLoss(make_actor(OBS, ACT, HIDDEN), value_operator(), num_qvalue_nets=E)
    data = batch(8)
    loss.select_out_keys("loss_actor", "loss_qvalue")
    assert set(loss(data.clone()).keys()) == {"loss_actor", "loss_qvalue"}
    loss.reset_out_keys()
    assert "loss_alpha" in loss(data.clone()).keys()
    out = loss(
        observation=data["observation"], action=data["action"], next_observation=data["next", "observation"],
        next_reward=data["next", "reward"], next_terminated=data["next", "terminated"],
    )
    assert isinstance(out, tuple) and len(out) == len(loss.out_keys)
    summed = WSRLLoss(loss.actor_network, value_operator(), num_qvalue_nets=E, reduction="sum")
    assert summed(data.clone())["loss_alpha"].shape == ()
    with pytest.raises(ValueError, match="reduction"):
        WSRLLoss(loss.actor_network, value_operator(), reduction="max")


def test_the_target_entropy_comes_from_the_action_spec_or_the_actor():
    actor = make_actor(OBS, ACT, HIDDEN)
    assert WSRLLoss(actor, value_operator(), num_qvalue_nets=2).target_entropy == -ACT  # the actor's spec
    assert WSRLLoss(actor, value_operator(), num_qvalue_nets=2, action_spec=Bounded(-1, 1, (7,))).target_entropy == -7
    assert WSRLLoss(actor, value_operator(), num_qvalue_nets=2, action_dim=3).target_entropy == -3


def test_what_a_loss_cannot_take_is_named():
    actor = make_actor(OBS, ACT, HIDDEN)
    with pytest.raises(KeyError, match=r"CalQLLoss: the batch has no entry 'mc_return'.*set_keys\(mc_return=...\)"):
        CalQLLoss(actor, value_operator(), num_qvalue_nets=2, calibrate=True)(batch(4).exclude("mc_return"))
    with pytest.raises(ValueError, match="must read the observation and 'action'"):
        WSRLLoss(actor, ValueOperator(nn.Linear(OBS, 1), in_keys=["observation"]))
    with pytest.raises(ValueError, match="num_qvalue_nets=3, but the EnsembleQCritic holds 4"):
        WSRLLoss(actor, EnsembleQCritic(OBS, ACT, num_critics=4, hidden_sizes=HIDDEN), num_qvalue_nets=3)
    with pytest.raises(NotImplementedError, match="TD0 only"):
        WSRLLoss(actor, value_operator(), num_qvalue_nets=2).make_value_estimator(ValueEstimators.GAE)
