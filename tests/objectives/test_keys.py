"""The TorchRL contract of the losses: set_keys, in_keys / out_keys, parameter names."""
import warnings

import pytest
import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import ProbabilisticActor, TanhNormal

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, EnsembleSACLoss, WSRLLoss

OBS, ACT = 5, 2  # as in conftest.make_batch

LOSSES = {
    "wsrl": (WSRLLoss, {}),
    "wsrl-max-backup": (WSRLLoss, {"max_target_backup": True, "num_target_actions": 3, "backup_entropy": True}),
    "calql": (CalQLLoss, {"num_cql_actions": 3}),
    "calql-lagrange": (CalQLLoss, {"num_cql_actions": 3, "cql_lagrange": True}),
    "cql": (CalQLLoss, {"num_cql_actions": 3, "calibrate": False}),
}
# Every accepted key renamed, one of them to a nested key.
RENAMES = {
    "observation": ("agent", "obs"), "action": "act", "reward": "r", "terminated": "term", "mc_return": "mc",
    "done": "d", "priority": ("prio", "td"), "priority_weight": "w",
}


class GoalConditioned(nn.Module):
    """A policy head reading two keys, observation and goal."""

    def forward(self, observation, goal):
        return observation[..., :ACT] + goal, torch.ones_like(goal)


def build(name, **actor_kwargs):
    loss_cls, kwargs = LOSSES[name]
    actor = make_actor(OBS, ACT, (16, 16), **actor_kwargs)
    critic = EnsembleQCritic(OBS, ACT, num_critics=3, hidden_sizes=(16, 16))
    return loss_cls(actor, critic, action_dim=ACT, **kwargs)


def renames_of(loss):
    return {key: RENAMES[key] for key in type(loss).default_keys.__dataclass_fields__}


def renamed(batch, renames):
    """``batch`` with its entries moved to the renamed keys (the defaults removed)."""
    out = batch.clone()
    for name in ("observation", "action", "mc_return"):
        if name in renames:
            out.rename_key_(name, renames[name])
    out.rename_key_(("next", "observation"), ("next", *renames["observation"]))
    for name in ("reward", "terminated"):
        out.rename_key_(("next", name), ("next", renames[name]))
    return out


def losses_on(loss, batch):
    """Every loss and output of ``loss`` on ``batch``, each from its own seed."""
    torch.manual_seed(1)
    out = loss(batch).to_dict()
    torch.manual_seed(2)
    out["bc_actor_loss"], out["bc_log_prob"] = loss.bc_actor_loss(batch)
    return out


@pytest.mark.parametrize("name", LOSSES)
def test_renamed_keys_on_a_renamed_batch_give_the_same_losses(batch, name):
    loss = build(name)
    expected = losses_on(loss, batch)
    loss.set_keys(**renames_of(loss))
    batch = renamed(batch, renames_of(loss))
    assert "observation" not in batch.keys() and ("next", "reward") not in batch.keys(True)
    torch.testing.assert_close(losses_on(loss, batch), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", LOSSES)
def test_in_keys_follow_the_renames(name):
    loss = build(name)
    reads_mc_return = name in ("calql", "calql-lagrange")
    mc = ["mc_return"] if reads_mc_return else []
    assert loss.in_keys == ["observation", "action", ("next", "observation"), ("next", "reward"), ("next", "terminated"), *mc]
    loss.set_keys(**renames_of(loss))
    mc = ["mc"] if reads_mc_return else []
    assert loss.in_keys == [("agent", "obs"), "act", ("next", "agent", "obs"), ("next", "r"), ("next", "term"), *mc]


@pytest.mark.parametrize("name", LOSSES)
def test_out_keys_are_what_forward_returns(batch, name):
    loss = build(name)
    assert sorted(loss(batch).keys()) == sorted(loss.out_keys)


@pytest.mark.parametrize("name", LOSSES)
def test_the_loss_reads_no_key_outside_in_keys(batch, name):
    loss = build(name)
    assert torch.isfinite(loss(batch.select(*loss.in_keys))["loss_qvalue"])


def test_the_actor_reads_the_observation_under_its_own_key(batch):
    """An actor built to read ``"state"`` evaluates the batch's ``observation`` entry."""
    default, own_key = build("wsrl"), build("wsrl", observation_key="state")
    own_key.load_state_dict(default.state_dict())
    torch.manual_seed(4)
    expected = default(batch)
    torch.manual_seed(4)
    torch.testing.assert_close(own_key(batch).to_dict(), expected.to_dict(), rtol=0, atol=0)


@pytest.mark.parametrize(
    "loss_cls,key",
    [(WSRLLoss, "truncated"), (WSRLLoss, "state_action_value"), (WSRLLoss, "mc_return"), (CalQLLoss, "truncated"), (CalQLLoss, "obs")],
)
def test_an_unknown_key_raises(loss_cls, key):
    name = "wsrl" if loss_cls is WSRLLoss else "calql"
    loss = build(name)
    with pytest.raises(ValueError, match=f"{key} is not an accepted tensordict key"):
        loss.set_keys(**{key: "x"})


def test_an_actor_reading_several_keys_is_refused():
    params = TensorDictModule(GoalConditioned(), in_keys=["observation", "goal"], out_keys=["loc", "scale"])
    actor = ProbabilisticActor(params, in_keys=["loc", "scale"], distribution_class=TanhNormal)
    critic = EnsembleQCritic(OBS, ACT, num_critics=3, hidden_sizes=(16, 16))
    with pytest.raises(ValueError, match=r"actor_network must read one key.*'goal'"):
        WSRLLoss(actor, critic, action_dim=ACT)


@pytest.mark.parametrize("name", LOSSES)
def test_parameter_names_and_targets(name):
    """The state-dict names checkpoints hold; a target copy of the critics only, made without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = build(name)
    expected = {"actor_network_params", "qvalue_network_params", "target_qvalue_network_params", "log_alpha"}
    if isinstance(loss, CalQLLoss):
        expected |= {"cql_alpha", "cql_alpha_raw"} if loss.cql_lagrange else {"cql_alpha"}
    assert {key.split(".")[0] for key in loss.state_dict()} == expected
    assert [n for n, _ in loss.named_children() if n.startswith("target_")] == ["target_qvalue_network_params"]
    assert isinstance(loss, EnsembleSACLoss)
