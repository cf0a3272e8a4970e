import math

import pytest
import torch

from torchrl_wsrl.objectives.functional import (
    calibrate,
    cql_penalty,
    draw_critic_subset,
    max_target_backup,
    td_target,
    uniform_log_density,
)


def test_td_target_by_hand():
    reward = torch.tensor([[1.0], [2.0]])
    terminated = torch.tensor([[False], [True]])
    next_value = torch.tensor([[10.0], [10.0]])
    y = td_target(reward, terminated, next_value, gamma=0.9)
    assert torch.allclose(y, torch.tensor([[1.0 + 0.9 * 10.0], [2.0]]))


@pytest.mark.parametrize("replace", [True, False])
def test_draw_critic_subset(replace):
    draws = torch.stack([draw_critic_subset(10, 2, replace=replace, device="cpu") for _ in range(2000)])
    assert draws.shape == (2000, 2) and draws.min() >= 0 and draws.max() <= 9
    repeats = (draws[:, 0] == draws[:, 1]).float().mean().item()
    if replace:
        assert 0.05 < repeats < 0.15  # P(repeat) = 1/10
    else:
        assert repeats == 0.0
    assert torch.bincount(draws.flatten(), minlength=10).min() > 300  # every critic is drawn


def test_draw_critic_subset_rejects_bad_sizes():
    with pytest.raises(ValueError, match="subsample_size"):
        draw_critic_subset(2, 3, replace=False, device="cpu")
    with pytest.raises(ValueError, match="subsample_size"):
        draw_critic_subset(2, 0, replace=True, device="cpu")


def test_max_target_backup():
    v = torch.tensor([[[1.0], [5.0]], [[4.0], [2.0]], [[0.0], [0.0]]])  # [n=3, B=2, 1]
    assert torch.equal(max_target_backup(v), torch.tensor([[4.0], [5.0]]))


def test_calibrate_is_max_with_mc_return_per_transition():
    q = torch.tensor([[[1.0, -3.0], [0.5, 7.0]]])  # [E=1, n=2, B=2]
    mc = torch.tensor([[0.0], [6.0]])
    assert torch.equal(calibrate(q, mc), torch.tensor([[[1.0, 6.0], [0.5, 7.0]]]))


def test_cql_penalty_importance_sampled_by_hand():
    # E=1, n=1, B=1, A=2: logsumexp over {q_rand - log 0.25, q_pi - logp_pi, q_next - logp_next}
    q_data = torch.tensor([[[0.5]]])
    q_rand, q_pi, q_next = torch.tensor([[[1.0]]]), torch.tensor([[[2.0]]]), torch.tensor([[[3.0]]])
    lp_pi, lp_next = torch.tensor([[-1.0]]), torch.tensor([[0.5]])
    out = cql_penalty(q_data, q_rand, q_pi, q_next, lp_pi, lp_next, action_dim=2)
    values = [1.0 - math.log(0.25), 2.0 + 1.0, 3.0 - 0.5]
    expected = math.log(sum(math.exp(v) for v in values)) - 0.5
    assert out.shape == (1,)
    assert out.item() == pytest.approx(expected, rel=1e-6)


def test_cql_penalty_without_importance_sampling_by_hand():
    q_data = torch.tensor([[[0.5]]])
    q_rand, q_pi, q_next = torch.tensor([[[1.0]]]), torch.tensor([[[2.0]]]), torch.tensor([[[3.0]]])
    lp = torch.tensor([[123.0]])  # ignored without importance sampling
    out = cql_penalty(q_data, q_rand, q_pi, q_next, lp, lp, action_dim=2, importance_sample=False)
    values = [1.0, 0.5, 2.0, 3.0]
    expected = math.log(sum(math.exp(v) for v in values)) - math.log(4) - 0.5
    assert out.item() == pytest.approx(expected, rel=1e-6)


def test_cql_penalty_is_per_critic_and_averages_the_batch():
    torch.manual_seed(1)
    E, n, B = 3, 4, 5
    q_data = torch.randn(E, B, 1)
    q = [torch.randn(E, n, B) for _ in range(3)]
    lp = [torch.randn(n, B) for _ in range(2)]
    out = cql_penalty(q_data, *q, *lp, action_dim=3, temperature=2.0)
    for e in range(E):
        per_b = []
        for b in range(B):
            vals = torch.cat([q[0][e, :, b] - uniform_log_density(3), q[1][e, :, b] - lp[0][:, b], q[2][e, :, b] - lp[1][:, b]])
            per_b.append(2.0 * torch.logsumexp(vals / 2.0, 0) - q_data[e, b, 0])
        assert out[e].item() == pytest.approx(torch.stack(per_b).mean().item(), rel=1e-5)


def test_reduce_loss_by_hand():
    from torchrl_wsrl.objectives.functional import reduce_loss

    loss, weights = torch.tensor([1.0, 2.0, 3.0, 6.0]), torch.tensor([1.0, 1.0, 2.0, 0.0])
    assert reduce_loss(loss, "mean").item() == 3.0
    assert reduce_loss(loss, "sum").item() == 12.0
    assert torch.equal(reduce_loss(loss, "none"), loss)
    assert reduce_loss(loss, "mean", weights).item() == (1 + 2 + 6) / 4  # sum(l w) / sum(w)
    assert reduce_loss(loss, "sum", weights).item() == 9.0
    assert torch.equal(reduce_loss(loss, "none", weights), torch.tensor([1.0, 2.0, 6.0, 0.0]))
    with pytest.raises(ValueError, match="reduction must be"):
        reduce_loss(loss, "max")
