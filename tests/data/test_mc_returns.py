import pytest
import torch
from torchrl.objectives.value.functional import reward2go

from torchrl_wsrl.data import mc_returns


def _reference(rewards, episode_ends, gamma):
    """Plain reverse loop over rows."""
    out, to_go = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        if episode_ends[t]:
            to_go = 0.0
        to_go = rewards[t] + gamma * to_go
        out[t] = to_go
    return torch.tensor(out)


def test_hand_computed_two_episodes():
    rewards = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    ends = torch.tensor([False, True, False, False, True])
    expected = torch.tensor([1 + 0.5 * 2, 2, 3 + 0.5 * 4 + 0.25 * 5, 4 + 0.5 * 5, 5])
    out = mc_returns(rewards, ends, 0.5)
    assert out.dtype == torch.float32 and out.shape == (5,)
    torch.testing.assert_close(out, expected)


def test_gamma_zero_and_one():
    rewards = torch.tensor([1.0, 2.0, 3.0])
    ends = torch.tensor([False, False, True])
    torch.testing.assert_close(mc_returns(rewards, ends, 0.0), rewards)
    torch.testing.assert_close(mc_returns(rewards, ends, 1.0), torch.tensor([6.0, 5.0, 3.0]))


def test_unmarked_last_row_ends_the_episode():
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0])
    marked = mc_returns(rewards, torch.tensor([False, True, False, True]), 0.9)
    unmarked = mc_returns(rewards, torch.tensor([False, True, False, False]), 0.9)
    torch.testing.assert_close(marked, unmarked)
    torch.testing.assert_close(marked, torch.tensor([1.9, 1.0, 1.9, 1.0]))


def test_single_step_episodes_and_one_long_episode():
    generator = torch.Generator().manual_seed(0)
    rewards = torch.randn(300, generator=generator)
    ends = torch.zeros(300, dtype=torch.bool)
    ends[:100] = True  # 100 one-step episodes, then one of 200 steps
    ends[-1] = True
    expected = _reference(rewards.tolist(), ends.tolist(), 0.99)
    torch.testing.assert_close(mc_returns(rewards, ends, 0.99), expected, rtol=1e-5, atol=1e-5)


def test_sparse_failure_rule():
    gamma = 0.9
    # episode 0 fails (all -5), episode 1 succeeds once (+5), episode 2 fails in one step
    rewards = torch.tensor([-5.0, -5.0, -5.0, -5.0, 5.0, -5.0])
    ends = torch.tensor([False, False, True, False, True, True])
    out = mc_returns(rewards, ends, gamma, sparse_failure_reward=-5.0)
    failed = -5.0 / (1 - gamma)
    expected = torch.tensor([failed, failed, failed, -5.0 + gamma * 5.0, 5.0, failed])
    torch.testing.assert_close(out, expected)
    # without the rule the failing episode gets its finite discounted sum
    plain = mc_returns(rewards, ends, gamma)
    torch.testing.assert_close(plain[:3], torch.tensor([-5 - 4.5 - 4.05, -5 - 4.5, -5.0]))


def test_matches_torchrl_reward2go_on_random_episodes():
    generator = torch.Generator().manual_seed(1)
    rewards = torch.randn(5_000, generator=generator)
    ends = torch.rand(5_000, generator=generator) < 0.01
    out = mc_returns(rewards, ends, 0.99)
    ref = reward2go(rewards.unsqueeze(-1), ends.unsqueeze(-1), 0.99).squeeze(-1)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out, _reference(rewards.tolist(), ends.tolist(), 0.99))


def test_one_million_rows_runs():
    generator = torch.Generator().manual_seed(2)
    rewards = torch.randn(1_000_000, generator=generator)
    ends = torch.zeros(1_000_000, dtype=torch.bool)
    ends[999::1000] = True
    out = mc_returns(rewards, ends, 0.99)
    assert out.shape == (1_000_000,) and torch.isfinite(out).all()
    torch.testing.assert_close(out[-1000:], mc_returns(rewards[-1000:], ends[-1000:], 0.99))


def test_empty_and_bad_shapes():
    assert mc_returns(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0.99).shape == (0,)
    with pytest.raises(ValueError, match="rewards \\[N\\]"):
        mc_returns(torch.zeros(3, 1), torch.zeros(3, 1, dtype=torch.bool), 0.99)
    with pytest.raises(ValueError, match="gamma"):
        mc_returns(
            torch.zeros(3), torch.zeros(3, dtype=torch.bool), 1.0, sparse_failure_reward=-1.0
        )
