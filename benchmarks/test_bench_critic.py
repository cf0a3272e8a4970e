"""Critic ensemble forward + backward: E = 10 critics, the three domain trunks, per backend.

Rows: 256 (one critic minibatch) and 31 x 256 (Cal-QL: the data action and 30 out-of-distribution
actions per state, evaluated in one batched call). The timed call is ``q = Q(s, a)``, the mean of
``q^2`` and its backward to the critic parameters: the work of a critic update without the
target and the optimizer.
"""
import pytest
import torch

from common import DOMAINS, NUM_CQL_ACTIONS, OFFLINE_BATCH, make_networks, needs_cuda, run_benchmark

ROWS = {"critic-256": 1, "calql-31x256": 1 + 3 * NUM_CQL_ACTIONS}  # actions per state
BACKENDS = [  # (critic backend, compiled)
    pytest.param("eager", False, id="eager"),
    pytest.param("eager", True, id="compiled"),
    pytest.param("triton", False, id="triton", marks=needs_cuda),
    pytest.param("triton", True, id="compiled+triton", marks=needs_cuda),
]


@pytest.mark.parametrize("backend, compiled", BACKENDS)
@pytest.mark.parametrize("rows", list(ROWS.values()), ids=list(ROWS))
@pytest.mark.parametrize("domain", list(DOMAINS))
def test_critic_forward_backward(benchmark, domain, rows, backend, compiled):
    hidden, obs_dim, action_dim = DOMAINS[domain]
    _, critic = make_networks(obs_dim, action_dim, hidden, backend=backend)
    device = next(critic.parameters()).device
    observation = torch.randn(OFFLINE_BATCH, obs_dim, device=device).expand(rows, OFFLINE_BATCH, obs_dim)
    action = torch.rand(rows, OFFLINE_BATCH, action_dim, device=device) * 2 - 1

    def q_loss(observation, action):
        return critic.q_values(observation, action).pow(2).mean()

    q_loss = torch.compile(q_loss, fullgraph=True) if compiled else q_loss

    def forward_backward():
        critic.zero_grad(set_to_none=True)
        q_loss(observation, action).backward()

    benchmark.group = f"critic fwd+bwd {domain} {rows * OFFLINE_BATCH} rows"
    run_benchmark(benchmark, forward_backward, rounds=10 if rows == 1 else 3)
