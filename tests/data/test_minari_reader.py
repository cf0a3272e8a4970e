import re

import gymnasium as gym
import numpy as np
import pytest
import torch

from torchrl_wsrl.data import DatasetSpec, DatasetError, load_minari, mc_returns

minari = pytest.importorskip(
    "minari", reason="minari is not installed: pip install 'torchrl-wsrl[robotics]'"
)
from minari.data_collector import EpisodeBuffer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:minari")

OBS_DIM, ACT_DIM = 3, 2
BOX_SPACES = {
    "observation_space": gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
    "action_space": gym.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32),
}
# (steps, terminated at the end, truncated at the end)
EPISODES = [(4, True, False), (3, False, True), (2, True, False), (3, False, False)]


def _episodes(seed=0, dict_obs=False):
    rng = np.random.default_rng(seed)
    episodes = []
    for steps, terminated, truncated in EPISODES:
        observations = rng.normal(size=(steps + 1, OBS_DIM)).astype(np.float32)
        if dict_obs:
            observations = {
                "observation": observations,
                "achieved_goal": observations[:, :2] + 1,
                "desired_goal": np.full((steps + 1, 2), 7.0, np.float32),
            }
        terminations = np.zeros(steps, bool)
        truncations = np.zeros(steps, bool)
        terminations[-1], truncations[-1] = terminated, truncated
        episodes.append(
            {
                "observations": observations,
                "actions": rng.uniform(-1, 1, (steps, ACT_DIM)).astype(np.float32),
                "rewards": rng.normal(size=steps),
                "terminations": terminations,
                "truncations": truncations,
            }
        )
    return episodes


def _create(dataset_id, episodes, **spaces):
    buffers = [EpisodeBuffer(id=i, **ep) for i, ep in enumerate(episodes)]
    minari.create_dataset_from_buffers(dataset_id, buffers, **(spaces or BOX_SPACES))


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    return tmp_path


def test_read_back_matches_the_episodes_written(datasets_root):
    episodes = _episodes()
    _create("toy/box-v0", episodes)
    td = load_minari("toy/box-v0", DatasetSpec(gamma=0.9, reward_scale=2.0, reward_bias=-1.0, obs_dim=OBS_DIM, action_dim=ACT_DIM), root=datasets_root)

    # the truncated episode's last step and the unflagged last step of episode 3 are dropped
    keep = np.concatenate([[True] * 4, [True, True, False], [True, True], [True, True, False]])
    observations = np.concatenate([ep["observations"][:-1] for ep in episodes])
    next_observations = np.concatenate([ep["observations"][1:] for ep in episodes])
    actions = np.concatenate([ep["actions"] for ep in episodes])
    rewards = np.concatenate([ep["rewards"] for ep in episodes]) * 2.0 - 1.0
    terminations = np.concatenate([ep["terminations"] for ep in episodes])
    ends = np.concatenate(
        [np.arange(len(ep["rewards"])) == len(ep["rewards"]) - 1 for ep in episodes]
    )

    assert td.batch_size == torch.Size([int(keep.sum())])
    np.testing.assert_array_equal(td["observation"].numpy(), observations[keep])
    np.testing.assert_array_equal(td["next", "observation"].numpy(), next_observations[keep])
    np.testing.assert_array_equal(td["action"].numpy(), actions[keep])
    np.testing.assert_allclose(td["next", "reward"].squeeze(-1).numpy(), rewards[keep], rtol=1e-6)
    assert td["next", "terminated"].squeeze(-1).tolist() == terminations[keep].tolist()
    assert torch.equal(td["next", "done"], td["next", "terminated"])
    assert not td["next", "truncated"].any()
    expected = mc_returns(torch.from_numpy(rewards), torch.from_numpy(ends), 0.9)
    torch.testing.assert_close(td["mc_return"].squeeze(-1), expected[torch.from_numpy(keep)])
    # hand check: first episode, first step
    r = rewards[:4]
    assert td["mc_return"][0, 0].item() == pytest.approx(
        r[0] + 0.9 * r[1] + 0.81 * r[2] + 0.729 * r[3], rel=1e-5
    )


def test_default_root_is_minari_datasets_path(datasets_root):
    _create("toy/box-v0", _episodes())
    assert load_minari("toy/box-v0").batch_size == torch.Size([10])


def test_dict_observations_need_obs_transform(datasets_root):
    episodes = _episodes(dict_obs=True)
    spaces = {
        "observation_space": gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
                "achieved_goal": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
                "desired_goal": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
            }
        ),
        "action_space": BOX_SPACES["action_space"],
    }
    _create("toy/dict-v0", episodes, **spaces)
    with pytest.raises(DatasetError, match="Dict space.*obs_transform"):
        load_minari("toy/dict-v0")

    def flatten(obs):
        return np.concatenate([obs["observation"], obs["desired_goal"]], axis=-1)

    td = load_minari("toy/dict-v0", DatasetSpec(obs_transform=flatten, obs_dim=OBS_DIM + 2))
    first = episodes[0]["observations"]
    np.testing.assert_array_equal(td["observation"][:4].numpy(), flatten(first)[:-1])
    np.testing.assert_array_equal(td["next", "observation"][:4].numpy(), flatten(first)[1:])


def test_missing_dataset_says_where_it_looked(datasets_root):
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(datasets_root / "toy/none-v0")) + ".*Put one there"
    ):
        load_minari("toy/none-v0")


def test_invalid_content_names_the_dataset_and_key(datasets_root):
    episodes = _episodes()
    episodes[1]["actions"][0, 1] = 3.0
    _create("toy/bad-v0", episodes)
    with pytest.raises(
        DatasetError,
        match="Minari dataset 'toy/bad-v0' at .*key 'actions' leaves \\[-1, 1\\].*row 4",
    ):
        load_minari("toy/bad-v0")
    with pytest.raises(
        DatasetError, match="'toy/bad-v0'.*observations has 3 features, the task's env expects 5"
    ):
        load_minari("toy/bad-v0", DatasetSpec(obs_dim=5))


def test_overflowing_rewards_and_too_long_episodes_name_the_dataset(datasets_root):
    episodes = _episodes()
    episodes[2]["rewards"][1] = 1e39  # float64: finite until the float32 cast
    _create("toy/overflow-v0", episodes)
    with pytest.raises(
        DatasetError,
        match="Minari dataset 'toy/overflow-v0' at .*key 'rewards' holds NaN or inf, first at "
        "row 8 .*finite before the float32 cast",
    ):
        load_minari("toy/overflow-v0")

    _create("toy/box-v0", _episodes())  # episodes of 4, 3, 2 and 3 steps
    assert len(load_minari("toy/box-v0", DatasetSpec(max_episode_steps=4))) == 10
    with pytest.raises(
        DatasetError,
        match="'toy/box-v0'.*episode starting at row 0 has 4 steps, more than the task's "
        "limit of 3",
    ):
        load_minari("toy/box-v0", DatasetSpec(max_episode_steps=3))


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="TorchRL 0.14.1 MinariExperienceReplay stores memmap_like (zeros)",
)
def test_torchrl_minari_experience_replay_still_writes_zeros(datasets_root):
    """Tripwire: when this passes, TorchRL's reader works and could replace ours."""
    from torchrl.data.datasets import MinariExperienceReplay

    _create("toy/box-v0", _episodes())
    replay = MinariExperienceReplay(
        "toy/box-v0",
        batch_size=4,
        root=datasets_root / "torchrl",
        download=False,
        load_from_local_minari=True,
    )
    written = np.concatenate([ep["observations"][:-1] for ep in _episodes()])
    np.testing.assert_allclose(replay[:]["observation"].numpy(), written)
