import pytest
import torch
from tensordict import TensorDict

from torchrl_wsrl.replay import (
    SOURCE_OFFLINE,
    SOURCE_ONLINE,
    TRANSITION_KEYS,
    WarmupNotCompleteError,
    EpisodeMCReturns,
    WarmupReplayTransform,
    as_transitions,
    make_replay_buffer,
)


def steps(n: int, *, offset: float = 0.0) -> TensorDict:
    return TensorDict(
        {
            "observation": torch.arange(n, dtype=torch.float32).unsqueeze(-1) + offset,
            "action": torch.zeros(n, 1),
            "loc": torch.zeros(n, 1),  # a policy output the buffer must not keep
            "next": {
                "observation": torch.zeros(n, 1),
                "reward": torch.ones(n, 1),
                "terminated": torch.zeros(n, 1, dtype=torch.bool),
                "truncated": torch.zeros(n, 1, dtype=torch.bool),
                "done": torch.zeros(n, 1, dtype=torch.bool),
            },
        },
        [n],
    )


def test_as_transitions_scales_rewards_and_keeps_transition_keys():
    td = as_transitions(steps(3), reward_scale=10.0, reward_bias=-5.0)
    assert set(td.keys(True, True)) == set(TRANSITION_KEYS)
    assert torch.equal(td["next", "reward"], torch.full((3, 1), 5.0))
    assert torch.isneginf(td["mc_return"]).all()


def test_warmup_gates_sampling_and_stamps_steps():
    buffer, warmup, storage = make_replay_buffer(capacity=100, batch_size=4, warmup_steps=5)
    assert len(buffer) == 0
    buffer.extend(as_transitions(steps(3)))
    with pytest.raises(WarmupNotCompleteError, match="3 of 5"):
        buffer.sample()
    buffer.extend(as_transitions(steps(2, offset=3)))
    assert warmup.warmup_complete
    sample = buffer.sample()
    assert sample.batch_size == (4,)
    assert (sample["source"] == SOURCE_ONLINE).all()
    # collected_at is the env step at which each transition was collected
    stored = storage[:5]
    assert torch.equal(stored["collected_at"], torch.arange(5))
    assert torch.equal(stored["observation"].squeeze(-1), torch.arange(5, dtype=torch.float32))


def test_no_warmup_samples_at_once():
    buffer, warmup, _ = make_replay_buffer(capacity=10, batch_size=2, warmup_steps=0)
    buffer.extend(as_transitions(steps(1)))
    assert buffer.sample().batch_size == (2,)


def test_offline_ratio_mixes_exact_fractions():
    offline = as_transitions(steps(50, offset=1000.0))
    buffer, _, storage = make_replay_buffer(capacity=100, batch_size=64, warmup_steps=4, offline_data=offline, offline_ratio=0.25)
    buffer.extend(as_transitions(steps(10)))
    sample = buffer.sample(64)
    assert (sample["source"] == SOURCE_OFFLINE).sum() == 16
    assert (sample["observation"][sample["source"] == SOURCE_OFFLINE] >= 1000).all()
    assert (sample["collected_at"][sample["source"] == SOURCE_OFFLINE] == -1).all()
    assert len(storage) == 10  # offline data never enters the online storage
    # shuffled, so that every UTD minibatch mixes both sources
    per_quarter = (sample["source"] == SOURCE_OFFLINE).reshape(4, 16).sum(1)
    assert 0 < per_quarter.min() and per_quarter.max() < 16


def test_bad_ratios():
    with pytest.raises(ValueError, match="offline_ratio"):
        make_replay_buffer(capacity=10, batch_size=2, warmup_steps=0, offline_ratio=1.0)
    with pytest.raises(ValueError, match="offline_data"):
        make_replay_buffer(capacity=10, batch_size=2, warmup_steps=0, offline_ratio=0.5)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupReplayTransform(-1)


def test_warmup_state_round_trip():
    t = WarmupReplayTransform(5)
    t.inv(as_transitions(steps(3)))
    t2 = WarmupReplayTransform(5)
    t2.load_state_dict(t.state_dict())
    assert t2.env_steps == 3 and not t2.warmup_complete


@pytest.mark.parametrize("offline_ratio", [0.0, 0.5])
def test_the_replay_buffer_state_carries_the_warmup_counter(offline_ratio):
    """ReplayBuffer.state_dict() fills its destination with each transform's state: the warmup
    counter survives a round trip through the buffer (it was lost when the transform returned
    a new dict of its own)."""
    offline = as_transitions(steps(8)) if offline_ratio else None
    buffer, warmup, _ = make_replay_buffer(capacity=32, batch_size=4, warmup_steps=5, offline_data=offline, offline_ratio=offline_ratio)
    buffer.extend(as_transitions(steps(3)))
    online = getattr(buffer, "online_buffer", buffer)
    fresh, fresh_warmup, _ = make_replay_buffer(capacity=32, batch_size=4, warmup_steps=5, offline_data=offline, offline_ratio=offline_ratio)
    getattr(fresh, "online_buffer", fresh).load_state_dict(online.state_dict())
    assert fresh_warmup.env_steps == 3 and not fresh_warmup.warmup_complete
    fresh.extend(as_transitions(steps(2)))
    assert fresh_warmup.warmup_complete


def test_a_warmup_state_for_another_warmup_is_refused():
    t = WarmupReplayTransform(5)
    with pytest.raises(ValueError, match="gates 7 warmup env steps"):
        t.load_state_dict(WarmupReplayTransform(7).state_dict())


def _one_step(reward: float, done: bool) -> TensorDict:
    td = as_transitions(steps(1))
    td["next", "reward"].fill_(reward)
    td["next", "done"].fill_(done)
    return td


def test_episode_mc_returns_releases_whole_episodes_with_their_returns():
    """Online Cal-QL: each episode enters the buffer when it ends, with its reward-to-go
    (hand computation, gamma 0.5, no bootstrap after the last step)."""
    episodes = EpisodeMCReturns(gamma=0.5)
    assert episodes(_one_step(1.0, False)) is None
    assert episodes(_one_step(2.0, False)) is None
    first = episodes(_one_step(4.0, True))
    # G = 4; 2 + 0.5 * 4 = 4; 1 + 0.5 * 4 = 3
    assert torch.equal(first["mc_return"], torch.tensor([[3.0], [4.0], [4.0]]))
    assert torch.equal(first["next", "reward"].reshape(-1), torch.tensor([1.0, 2.0, 4.0]))

    # A batch that ends one episode and starts the next keeps the new one pending.
    batch = torch.cat([_one_step(2.0, True), _one_step(8.0, False)])
    second = episodes(batch)
    assert torch.equal(second["mc_return"], torch.tensor([[2.0]]))
    third = episodes(_one_step(2.0, True))
    assert torch.equal(third["mc_return"], torch.tensor([[9.0], [2.0]]))  # 8 + 0.5 * 2


def test_episode_mc_returns_applies_the_sparse_failure_rule():
    episodes = EpisodeMCReturns(gamma=0.9, sparse_failure_reward=-5.0)
    episodes(_one_step(-5.0, False))
    failed = episodes(_one_step(-5.0, True))
    torch.testing.assert_close(failed["mc_return"], torch.full((2, 1), -50.0))
