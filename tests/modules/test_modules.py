import pytest
import torch
from tensordict import TensorDict
from torch import nn
from torchrl.envs.utils import ExplorationType, set_exploration_type

from torchrl_wsrl.modules import EnsembleMLP, EnsembleQCritic, make_actor


def member_as_plain_mlp(ensemble: EnsembleMLP, i: int, x: torch.Tensor) -> torch.Tensor:
    h = x
    for w, b, g, beta in zip(ensemble.weights, ensemble.biases, ensemble.ln_weights, ensemble.ln_biases):
        h = torch.relu(nn.functional.layer_norm(h @ w[i] + b[i], (w.shape[-1],), g[i], beta[i], eps=1e-6))
    head = 0 if ensemble.head == "shared" else i
    return h @ ensemble.head_weight[head] + ensemble.head_bias[head]


@pytest.mark.parametrize("hidden", [(8,), (16, 16, 16)])
def test_ensemble_members_are_independent_mlps(hidden):
    net = EnsembleMLP(7, hidden, num_members=4)
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for p in [*net.ln_weights, *net.ln_biases, *net.biases, net.head_bias]:
            p.normal_()
    x = torch.randn(9, 7)
    out = net(x)
    assert out.shape == (4, 9, 1)
    for i in range(4):
        torch.testing.assert_close(out[i], member_as_plain_mlp(net, i, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hidden", [(8,), (16, 16)])
def test_shared_head_is_one_linear_layer_over_every_member(hidden):
    """head="shared" (the authors' critic): one [hidden, 1] head after E trunks; each member is
    the plain MLP of its own trunk and that head (float64), also for a drawn subset of members,
    and every member's output sends gradient into the one head."""
    net = EnsembleMLP(7, hidden, num_members=5, head="shared").double()
    assert net.head_weight.shape == (1, hidden[-1], 1) and net.head_bias.shape == (1, 1)
    with torch.no_grad():
        for p in [*net.ln_weights, *net.ln_biases, *net.biases, net.head_bias]:
            p.normal_()
    x = torch.randn(9, 7, dtype=torch.float64)
    out = net(x)
    assert out.shape == (5, 9, 1)
    for i in range(5):
        torch.testing.assert_close(out[i], member_as_plain_mlp(net, i, x))
    members = torch.tensor([3, 0, 3])
    torch.testing.assert_close(net(x, members), out[members])
    grads = [torch.autograd.grad(out[i].sum(), net.head_weight, retain_graph=True)[0] for i in range(5)]
    assert all(g.abs().sum() > 0 for g in grads)
    assert not torch.allclose(grads[0], grads[1])  # the members' trunks differ


def test_critic_head_option_changes_only_the_head():
    per, shared = (EnsembleQCritic(5, 2, num_critics=4, hidden_sizes=(16,), head=h) for h in ("per_critic", "shared"))
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(per).keys() == shapes(shared).keys()
    assert {k for k in shapes(per) if shapes(per)[k] != shapes(shared)[k]} == {"net.head_weight", "net.head_bias"}
    assert shared.q_values(torch.randn(3, 5), torch.randn(3, 2)).shape == (4, 3, 1)


def test_members_start_different_and_orthogonal():
    net = EnsembleMLP(6, (32,), num_members=3)
    w = net.weights[0]  # [E, in, out]: columns orthonormal * sqrt(2)
    torch.testing.assert_close(w[0].T @ w[0] if w.shape[1] >= w.shape[2] else w[0] @ w[0].T, 2 * torch.eye(min(w.shape[1:])), atol=1e-5, rtol=0)
    assert not torch.allclose(w[0], w[1])
    assert all((b == 0).all() for b in net.biases)


def test_critic_shapes_and_tensordict_output():
    critic = EnsembleQCritic(5, 2, num_critics=10, hidden_sizes=(16, 16))
    obs, act = torch.randn(3, 4, 5), torch.randn(3, 4, 2)
    assert critic.q_values(obs, act).shape == (10, 3, 4, 1)
    td = critic(TensorDict({"observation": obs[0], "action": act[0]}, [4]))
    assert td.batch_size == (10, 4)
    assert td["state_action_value"].shape == (10, 4, 1)
    with pytest.raises(ValueError, match="batch shape"):
        critic.q_values(torch.randn(4, 5), torch.randn(3, 2))


def test_bad_construction():
    with pytest.raises(ValueError, match="num_members"):
        EnsembleMLP(3, (4,), num_members=0)
    with pytest.raises(ValueError, match="hidden"):
        EnsembleMLP(3, (), num_members=2)
    with pytest.raises(ValueError, match="backend"):
        EnsembleMLP(3, (4,), num_members=2, backend="cuda")
    with pytest.raises(ValueError, match="head"):
        EnsembleMLP(3, (4,), num_members=2, head="one")


@pytest.mark.parametrize("state_dependent_std", [True, False])
def test_actor_samples_in_bounds_and_is_deterministic_in_eval(state_dependent_std):
    actor = make_actor(5, 3, (16, 16), state_dependent_std=state_dependent_std)
    td = TensorDict({"observation": torch.randn(64, 5)}, [64])
    with set_exploration_type(ExplorationType.RANDOM):
        a1, a2 = actor(td.clone())["action"], actor(td.clone())["action"]
    assert a1.shape == (64, 3) and a1.abs().max() <= 1
    assert not torch.allclose(a1, a2)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        d = actor(td.clone())
    torch.testing.assert_close(d["action"], torch.tanh(d["loc"]))
    has_log_std = any("log_std" in name for name, _ in actor.named_parameters())
    assert has_log_std is not state_dependent_std


def test_sampling_policy_draws_the_actors_actions():
    """SamplingPolicy gives the actor's TanhNormal samples draw for draw (same seed, same
    actions) and tanh(loc) under DETERMINISTIC, for saturating locs too."""
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    from torchrl_wsrl.modules import SamplingPolicy

    for state_dependent_std in (True, False):
        actor = make_actor(5, 2, (16, 16), state_dependent_std=state_dependent_std, head_gain=5.0)
        policy = SamplingPolicy(actor)
        obs = torch.randn(7, 5) * 3
        for exploration in (ExplorationType.RANDOM, ExplorationType.DETERMINISTIC):
            with set_exploration_type(exploration), torch.no_grad():
                torch.manual_seed(1)
                expected = actor(TensorDict({"observation": obs}, [7]))["action"]
                torch.manual_seed(1)
                got = policy(TensorDict({"observation": obs}, [7]))["action"]
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
    with pytest.raises(TypeError, match="make_actor"):
        SamplingPolicy(torch.nn.Linear(2, 2))
