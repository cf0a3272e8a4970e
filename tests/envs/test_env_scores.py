import pytest
import torch

from torchrl_wsrl.envs import episode_score, get_task, normalized_score


@pytest.mark.parametrize(
    "name, episode_return, expected",
    [
        ("hopper-medium", 3234.3, 100.0),
        ("hopper-medium", -20.272305, 0.0),
        # (1607.0138475 + 20.272305) / (3234.3 + 20.272305) = 0.5
        ("hopper-medium", 1607.0138475, 50.0),
        # 100 * (6000 + 280.178953) / (12135 + 280.178953)
        ("halfcheetah-medium", 6000.0, 50.5847),
        # 100 * (2000 - 1.629008) / (4592.3 - 1.629008)
        ("walker2d-medium", 2000.0, 43.5311),
        ("antmaze-large-diverse", 1.0, 100.0),
        ("antmaze-large-diverse", 0.0, 0.0),
    ],
)
def test_normalized_score_is_d4rl_formula(name, episode_return, expected):
    assert normalized_score(get_task(name), episode_return) == pytest.approx(expected, abs=1e-4)


def test_normalized_return_sums_raw_rewards():
    task = get_task("hopper-medium")
    rewards = torch.tensor([1.0, 2.0, 3.5])
    expected = 100 * (6.5 + 20.272305) / (3234.3 + 20.272305)
    assert episode_score(task, rewards, None) == pytest.approx(expected)
    assert episode_score(task, rewards[:, None], None) == pytest.approx(expected)


def test_antmaze_score_is_100_on_reaching_the_goal():
    task = get_task("antmaze-umaze")
    assert episode_score(task, torch.tensor([0.0, 0.0, 1.0]), None) == 100.0
    assert episode_score(task, torch.zeros(700, 1), torch.zeros(700, 1, dtype=torch.bool)) == 0.0


def test_success_rate_uses_any_success():
    task = get_task("pen-binary")
    rewards = torch.tensor([-1.0, 0.0, -1.0])
    assert episode_score(task, rewards, torch.tensor([False, True, False])) == 100.0
    assert episode_score(task, rewards, torch.zeros(3, 1, dtype=torch.bool)) == 0.0
    with pytest.raises(ValueError, match="is_success"):
        episode_score(task, rewards, None)


def test_kitchen_final_is_last_reward_over_four():
    task = get_task("kitchen-partial")
    assert episode_score(task, torch.tensor([0.0, 1.0, 1.0, 3.0]), None) == 75.0
    assert episode_score(task, torch.tensor([[0.0], [4.0]]), None) == 100.0
    assert episode_score(task, torch.tensor([2.0, 0.0]), None) == 0.0


def test_bad_reward_shape_is_rejected():
    task = get_task("hopper-medium")
    with pytest.raises(ValueError, match="shape"):
        episode_score(task, torch.zeros(3, 2), None)
    with pytest.raises(ValueError, match="shape"):
        episode_score(task, torch.zeros(0), None)
