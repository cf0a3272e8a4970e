"""The critic's backends agree: the Triton kernels (on the CPU through TRITON_INTERPRET=1, which
tests/conftest.py sets) give the eager ensemble's Q-values and gradients, also compiled."""
import pytest
import torch

import torchrl_wsrl.modules.critic as critic_module
from torchrl_wsrl.kernels import triton_available
from torchrl_wsrl.modules.critic import EnsembleQCritic

OBS, ACT, NUM_CRITICS = 5, 2, 4

needs_triton = pytest.mark.skipif(not triton_available(), reason="the Triton kernels cannot run here")


def critic_pair(hidden=(16, 16)) -> tuple[EnsembleQCritic, EnsembleQCritic]:
    eager = EnsembleQCritic(OBS, ACT, num_critics=NUM_CRITICS, hidden_sizes=hidden)
    with torch.no_grad():  # non-trivial LayerNorm affine parameters and biases
        for name, p in eager.named_parameters():
            if "weights" not in name:
                p.add_(0.1 * torch.randn_like(p))
    triton = EnsembleQCritic(OBS, ACT, num_critics=NUM_CRITICS, hidden_sizes=hidden, backend="triton")
    triton.load_state_dict(eager.state_dict())
    return eager, triton


def q_and_grads(critic, observation, action, q_values=None):
    """Q-values and the gradients of a squared loss w.r.t. the action and every parameter."""
    action = action.clone().requires_grad_()
    q = (q_values or critic.q_values)(observation, action)
    loss = (q - 1.0).pow(2).mean()
    return q.detach(), torch.autograd.grad(loss, [action, *critic.parameters()])


def assert_same(result, expected):
    (q, grads), (q_ref, grads_ref) = result, expected
    torch.testing.assert_close(q, q_ref, rtol=1e-5, atol=1e-5)
    for grad, grad_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(grad, grad_ref, rtol=1e-4, atol=1e-5)


@needs_triton
def test_triton_backend_matches_eager():
    eager, triton = critic_pair()
    assert triton.net.backend == "triton"
    observation, action = torch.randn(3, 8, OBS), torch.rand(3, 8, ACT) * 2 - 1
    assert_same(q_and_grads(triton, observation, action), q_and_grads(eager, observation, action))


@needs_triton
def test_triton_backend_matches_eager_compiled():
    eager, triton = critic_pair()
    observation, action = torch.randn(8, OBS), torch.rand(8, ACT) * 2 - 1
    # fullgraph: the kernels are custom ops, opaque to dynamo, so they cost no graph break.
    compiled = torch.compile(triton.q_values, fullgraph=True)
    assert_same(q_and_grads(triton, observation, action, compiled), q_and_grads(eager, observation, action))


@pytest.mark.parametrize("backend", ["eager", pytest.param("triton", marks=needs_triton)])
def test_subset_of_critics_is_the_rows_of_the_full_ensemble(backend):
    critic = EnsembleQCritic(OBS, ACT, num_critics=NUM_CRITICS, hidden_sizes=(16,), backend=backend)
    observation, action = torch.randn(2, 6, OBS), torch.rand(2, 6, ACT) * 2 - 1
    index = torch.tensor([3, 1, 3])
    with torch.no_grad():
        q_all, q_subset = critic.q_values(observation, action), critic.q_values(observation, action, index)
    assert q_subset.shape == (3, 2, 6, 1)
    torch.testing.assert_close(q_subset, q_all[index])
    torch.testing.assert_close(q_subset.amin(0), q_all.index_select(0, index).amin(0))


def test_triton_falls_back_to_eager_with_one_warning(monkeypatch, recwarn):
    monkeypatch.setattr(critic_module, "triton_available", lambda: False)
    critic = EnsembleQCritic(OBS, ACT, num_critics=NUM_CRITICS, hidden_sizes=(16, 16), backend="triton")
    assert critic.net.backend == "eager"
    messages = [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)]
    assert len([m for m in messages if "falling back to 'eager'" in m]) == 1
    assert critic.q_values(torch.randn(4, OBS), torch.randn(4, ACT)).shape == (NUM_CRITICS, 4, 1)


@needs_triton
@pytest.mark.slow
@pytest.mark.parametrize("hidden", [(256, 256), (512, 512, 512)])
def test_triton_backend_matches_eager_large(hidden):
    eager, triton = critic_pair(hidden)
    observation, action = torch.randn(256, OBS), torch.rand(256, ACT) * 2 - 1
    assert_same(q_and_grads(triton, observation, action), q_and_grads(eager, observation, action))
