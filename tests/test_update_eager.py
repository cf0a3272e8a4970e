import pytest
import torch

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

OBS, ACT = 4, 2


def build(loss_cls=WSRLLoss, **kwargs):
    loss = loss_cls(make_actor(OBS, ACT, (8,)), EnsembleQCritic(OBS, ACT, num_critics=4, hidden_sizes=(8,)), action_dim=ACT, **kwargs)
    return loss, make_optimizers(loss)


def flat(params):
    return torch.cat([p.detach().reshape(-1) for p in params.values(True, True)])


def test_utd_block_steps_critic_utd_times_and_actor_once(make_transitions):
    loss, optimizers = build()
    update = UpdateStep(loss, optimizers, utd_ratio=4)
    metrics = update(make_transitions(32, OBS, ACT))
    steps = {name: next(iter(opt.state.values()))["step"].item() for name, opt in optimizers.items()}
    assert steps == {"critic": 4, "actor": 1, "alpha": 1}
    assert {"loss_qvalue", "loss_actor", "loss_alpha", "alpha", "entropy", "q_mean"} <= set(metrics.keys())
    assert all(v.shape == () and not v.requires_grad for v in metrics.values())


def test_polyak_after_every_critic_step(make_transitions):
    loss, optimizers = build()
    UpdateStep(loss, optimizers, utd_ratio=4, tau=1.0)(make_transitions(32, OBS, ACT))
    # tau = 1 copies the critics after each critic step: the targets end equal to the critics.
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), flat(loss.qvalue_network_params))

    loss, optimizers = build()
    before = flat(loss.target_qvalue_network_params).clone()
    UpdateStep(loss, optimizers, utd_ratio=2, tau=0.0)(make_transitions(16, OBS, ACT))
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), before)
    assert not torch.allclose(flat(loss.qvalue_network_params), before)


def test_polyak_matches_the_formula(make_transitions):
    loss, optimizers = build()
    target0 = flat(loss.target_qvalue_network_params).clone()
    update = UpdateStep(loss, optimizers, utd_ratio=1, tau=0.1)
    update(make_transitions(8, OBS, ACT))
    expected = 0.9 * target0 + 0.1 * flat(loss.qvalue_network_params)
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), expected)


def test_minibatches_are_disjoint_slices(make_transitions):
    loss, optimizers = build()
    seen = []
    original = loss.critic_loss
    loss.critic_loss = lambda td: seen.append(td["observation"].clone()) or original(td)
    data = make_transitions(12, OBS, ACT)
    UpdateStep(loss, optimizers, utd_ratio=3)(data)
    torch.testing.assert_close(torch.cat(seen), data["observation"])


def test_lagrange_calql_steps_the_multiplier_with_the_critic(make_transitions):
    loss, optimizers = build(CalQLLoss, cql_lagrange=True, num_cql_actions=2)
    before = loss.cql_alpha_raw.detach().clone()
    metrics = UpdateStep(loss, optimizers, utd_ratio=1)(make_transitions(8, OBS, ACT))
    assert "cql_penalty" in metrics.keys()
    assert loss.cql_alpha_raw.detach() != before


def test_batch_must_split_evenly(make_transitions):
    loss, optimizers = build()
    with pytest.raises(ValueError, match="multiple of utd_ratio"):
        UpdateStep(loss, optimizers, utd_ratio=4)(make_transitions(10, OBS, ACT))
    with pytest.raises(ValueError, match="utd_ratio"):
        UpdateStep(loss, optimizers, utd_ratio=0)


@pytest.mark.parametrize("loss_cls", [WSRLLoss, CalQLLoss])
def test_building_the_update_step_leaves_every_parameter_as_it_was(loss_cls, make_transitions):
    """A restored agent's target critics differ from its critics; building the update step (and
    TorchRL's SoftUpdate inside it) must not copy the critics over them."""
    loss, optimizers = build(loss_cls)
    with torch.no_grad():
        for target in loss.target_qvalue_network_params.values(True, True):
            target.add_(torch.randn_like(target))
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    update = UpdateStep(loss, optimizers, utd_ratio=1, tau=0.1)
    after = loss.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key

    # ... and Polyak averaging then starts from the restored targets.
    update(make_transitions(8, OBS, ACT))
    target0 = torch.cat([before[k].reshape(-1) for k in before if k.startswith("target_qvalue_network_params")])
    expected = 0.9 * target0 + 0.1 * flat(loss.qvalue_network_params)
    torch.testing.assert_close(flat(loss.target_qvalue_network_params), expected)


def test_bc_actor_loss_by_hand(make_transitions):
    loss, _ = build()
    batch = make_transitions(16, OBS, ACT)
    torch.manual_seed(1)
    value, log_prob = loss.bc_actor_loss(batch)
    dist = loss.actor_network.get_dist(batch.select("observation"))
    torch.manual_seed(1)
    _, expected_log_prob = loss._sample(batch["observation"])
    expected = (loss.alpha.detach() * expected_log_prob - dist.log_prob(batch["action"])).mean()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(log_prob, expected_log_prob)


def test_behavior_cloning_fits_the_data_actions_whatever_the_critic(make_transitions):
    """While ``behavior_cloning`` is on, the actor step maximises the likelihood of the batch's
    actions and ignores the critics; switched off, the critics drive it again."""
    batch = make_transitions(64, OBS, ACT)
    batch["action"] = torch.tanh(batch["observation"][:, :ACT])  # a policy the actor can fit

    def actor_after(critic_scale: float, behavior_cloning: bool, steps: int = 1):
        torch.manual_seed(0)
        loss, optimizers = build()
        with torch.no_grad():
            for p in loss.qvalue_network_params.values(True, True):
                p.mul_(critic_scale)
        update = UpdateStep(loss, optimizers, utd_ratio=1, tau=0.0)
        update.behavior_cloning = behavior_cloning
        for _ in range(steps):
            torch.manual_seed(1)
            update(batch)
        return loss

    torch.testing.assert_close(
        flat(actor_after(1.0, True).actor_network_params), flat(actor_after(5.0, True).actor_network_params)
    )
    assert not torch.allclose(
        flat(actor_after(1.0, False).actor_network_params), flat(actor_after(5.0, False).actor_network_params)
    )

    untrained, trained = actor_after(1.0, True, steps=0), actor_after(1.0, True, steps=1000)
    log_likelihood = [
        loss.actor_network.get_dist(batch.select("observation")).log_prob(batch["action"]).mean()
        for loss in (untrained, trained)
    ]
    assert log_likelihood[1] > log_likelihood[0] + 0.3, log_likelihood


@pytest.mark.parametrize("loss_cls", [WSRLLoss, CalQLLoss])
def test_bf16_runs_the_losses_in_bfloat16_and_keeps_float32_state(loss_cls, make_transitions, monkeypatch):
    """precision="bf16": the critic matmuls run in bfloat16 under autocast; parameters, Adam
    moments and the returned metrics stay float32, and the update is close to the fp32 one."""
    batch = make_transitions(32, OBS, ACT)
    results = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        loss, optimizers = build(loss_cls)
        seen = []
        baddbmm = torch.baddbmm
        def recording(*args, **kwargs):  # autocast casts inside the op: look at its output
            out = baddbmm(*args, **kwargs)
            seen.append(out.dtype)
            return out

        monkeypatch.setattr(torch, "baddbmm", recording)
        torch.manual_seed(1)
        metrics = UpdateStep(loss, optimizers, utd_ratio=2, precision=precision)(batch)
        monkeypatch.undo()
        assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
        assert all(p.dtype == torch.float32 for p in loss.parameters())
        assert all(s["exp_avg"].dtype == torch.float32 for opt in optimizers.values() for s in opt.state.values())
        assert all(v.dtype == torch.float32 for v in metrics.values())
        results[precision] = (metrics, flat(loss.qvalue_network_params))
    (m32, p32), (m16, p16) = results["fp32"], results["bf16"]
    torch.testing.assert_close(m16["loss_qvalue"], m32["loss_qvalue"], rtol=5e-2, atol=5e-2)
    torch.testing.assert_close(p16, p32, rtol=0, atol=2e-3)  # two Adam steps of lr 3e-4 apart at most
    assert not torch.equal(p16, p32), "bf16 changed nothing: autocast did not act"


def test_unknown_precision_is_refused():
    loss, optimizers = build()
    with pytest.raises(ValueError, match="precision must be one of"):
        UpdateStep(loss, optimizers, precision="fp8")
