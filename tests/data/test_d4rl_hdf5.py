import re

import h5py
import numpy as np
import pytest
import torch

from torchrl_wsrl.data import DatasetSpec, DatasetError, load_d4rl_hdf5, mc_returns, write_d4rl_hdf5

OBS_DIM, ACT_DIM = 3, 2
# rows 0-3: episode ending in a terminal; 4-7: episode ending in a timeout; 8-10: last episode,
# cut by the end of the file
TERMINALS = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
TIMEOUTS = np.array([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], dtype=bool)
EPISODE_ENDS = TERMINALS | TIMEOUTS
EPISODE_ENDS[-1] = True


def _data(num_rows=11, seed=0):
    rng = np.random.default_rng(seed)
    observations = rng.normal(size=(num_rows + 1, OBS_DIM)).astype(np.float32)
    return {
        "observations": observations[:-1],
        "actions": rng.uniform(-1, 1, size=(num_rows, ACT_DIM)).astype(np.float32),
        "rewards": rng.normal(size=num_rows).astype(np.float32),
        "terminals": TERMINALS[:num_rows].copy(),
        "timeouts": TIMEOUTS[:num_rows].copy(),
        "next_observations": observations[1:],
    }


def _write_raw(path, data):
    """A D4RL-like file written with h5py alone, for content the writer refuses."""
    with h5py.File(path, "w") as file:
        for key, value in data.items():
            file.create_dataset(key, data=value)
    return path


def test_round_trip_values_keys_shapes_dtypes(tmp_path):
    data = _data()
    path = write_d4rl_hdf5(tmp_path / "sub" / "set.hdf5", data, metadata={"policy": "random"})
    with h5py.File(path, "r") as file:
        assert set(file) == set(data)
        assert file["observations"].compression == "gzip"
        assert file.attrs["policy"] == "random"

    td = load_d4rl_hdf5(path, DatasetSpec(gamma=0.9, reward_scale=10.0, reward_bias=-5.0, obs_dim=3, action_dim=2))

    keep = ~TIMEOUTS  # the timeout row 7 is dropped
    num_kept = int(keep.sum())
    assert td.batch_size == torch.Size([num_kept])
    assert set(td.keys(include_nested=True, leaves_only=True)) == {
        "observation",
        "action",
        "mc_return",
        ("next", "observation"),
        ("next", "reward"),
        ("next", "terminated"),
        ("next", "truncated"),
        ("next", "done"),
    }
    for key in ("observation", "action", "mc_return", ("next", "observation"), ("next", "reward")):
        assert td[key].dtype == torch.float32
    for key in ("terminated", "truncated", "done"):
        assert td["next", key].dtype == torch.bool and td["next", key].shape == (num_kept, 1)
    assert td["observation"].shape == (num_kept, OBS_DIM)
    assert td["action"].shape == (num_kept, ACT_DIM)
    assert td["mc_return"].shape == (num_kept, 1)

    np.testing.assert_array_equal(td["observation"].numpy(), data["observations"][keep])
    np.testing.assert_array_equal(
        td["next", "observation"].numpy(), data["next_observations"][keep]
    )
    np.testing.assert_array_equal(td["action"].numpy(), data["actions"][keep])
    scaled = data["rewards"].astype(np.float64) * 10.0 - 5.0
    np.testing.assert_allclose(td["next", "reward"].squeeze(-1).numpy(), scaled[keep], rtol=1e-6)
    assert td["next", "terminated"].squeeze(-1).tolist() == TERMINALS[keep].tolist()
    assert not td["next", "truncated"].any()
    assert torch.equal(td["next", "done"], td["next", "terminated"])

    # MC returns on the scaled rewards of whole episodes, before the timeout row was dropped
    expected = mc_returns(torch.from_numpy(scaled), torch.from_numpy(EPISODE_ENDS), 0.9)
    torch.testing.assert_close(td["mc_return"].squeeze(-1), expected[torch.from_numpy(keep)])
    # row 6 precedes the dropped timeout row 7, whose reward still counts in its return
    assert td["mc_return"][6, 0] == pytest.approx(scaled[6] + 0.9 * scaled[7], rel=1e-5)


def test_optional_keys_missing_next_observations_derived(tmp_path):
    data = _data()
    del data["timeouts"], data["next_observations"]
    path = _write_raw(tmp_path / "bare.hdf5", data)
    td = load_d4rl_hdf5(path)

    # no timeouts: only the file's last row lacks a next observation and is dropped
    obs = data["observations"]
    assert td.batch_size == torch.Size([10])
    np.testing.assert_array_equal(td["observation"].numpy(), obs[:10])
    expected_next = obs[1:11].copy()
    expected_next[3] = obs[3]  # terminal row: placeholder, never bootstrapped from
    np.testing.assert_array_equal(td["next", "observation"].numpy(), expected_next)
    assert td["next", "terminated"].squeeze(-1).tolist() == TERMINALS[:10].tolist()


def test_next_observations_derived_with_timeouts(tmp_path):
    data = _data()
    del data["next_observations"]
    td = load_d4rl_hdf5(_write_raw(tmp_path / "no_next.hdf5", data))
    kept_rows = [0, 1, 2, 3, 4, 5, 6, 8, 9]  # timeout row 7 and last row 10 dropped
    obs = data["observations"]
    np.testing.assert_array_equal(td["observation"].numpy(), obs[kept_rows])
    np.testing.assert_array_equal(td["next", "observation"].numpy()[[0, 4, 7]], obs[[1, 5, 9]])


def test_obs_transform_applied_before_dim_check(tmp_path):
    path = write_d4rl_hdf5(tmp_path / "set.hdf5", _data())
    td = load_d4rl_hdf5(path, DatasetSpec(obs_dim=2, obs_transform=lambda obs: obs[:, :2] * 2))
    data = _data()
    np.testing.assert_array_equal(
        td["observation"].numpy(), data["observations"][~TIMEOUTS][:, :2] * 2
    )
    np.testing.assert_array_equal(
        td["next", "observation"].numpy(), data["next_observations"][~TIMEOUTS][:, :2] * 2
    )


def test_sparse_failure_rule_through_loader(tmp_path):
    data = _data()
    data["rewards"] = np.zeros(11, dtype=np.float32)
    data["rewards"][2] = 1.0  # only the first episode reaches the goal
    path = write_d4rl_hdf5(tmp_path / "sparse.hdf5", data)
    td = load_d4rl_hdf5(path, DatasetSpec(gamma=0.99, reward_scale=10.0, reward_bias=-5.0, sparse_failure_reward=-5.0))
    returns = td["mc_return"].squeeze(-1)
    assert returns[0].item() == pytest.approx(-5.0 - 0.99 * 5.0 + 0.99**2 * 5.0 - 0.99**3 * 5.0)
    assert torch.allclose(returns[4:], torch.tensor(-500.0))


def test_refuses_to_overwrite(tmp_path):
    path = write_d4rl_hdf5(tmp_path / "set.hdf5", _data(seed=0))
    with pytest.raises(FileExistsError, match=re.escape(str(path))):
        write_d4rl_hdf5(path, _data(seed=1))
    np.testing.assert_array_equal(
        load_d4rl_hdf5(path)["action"][0].numpy(), _data(seed=0)["actions"][0]
    )
    write_d4rl_hdf5(path, _data(seed=1), overwrite=True)
    np.testing.assert_array_equal(
        load_d4rl_hdf5(path)["action"][0].numpy(), _data(seed=1)["actions"][0]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.hdf5"]  # no temp file left


def test_writer_rejects_bad_data(tmp_path):
    data = _data()
    del data["rewards"]
    with pytest.raises(KeyError, match="'rewards'"):
        write_d4rl_hdf5(tmp_path / "a.hdf5", data)
    with pytest.raises(DatasetError, match="'actions' has 5 rows"):
        write_d4rl_hdf5(tmp_path / "b.hdf5", {**_data(), "actions": np.zeros((5, ACT_DIM))})
    with pytest.raises(DatasetError, match="unknown keys \\['qpos'\\]"):
        write_d4rl_hdf5(tmp_path / "c.hdf5", {**_data(), "qpos": np.zeros((11, 2))})
    assert list(tmp_path.iterdir()) == []


def _with(**changes):
    data = _data()
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return data


def _nan_at(key, row, value=np.nan):
    array = _data()[key].copy()
    array[row] = value
    return array


BAD_FILES = {
    "missing key": (
        _with(actions=None),
        {},
        KeyError,
        "missing required key\\(s\\) \\['actions'\\]; keys present",
    ),
    "length": (
        _with(rewards=np.zeros(7, np.float32)),
        {},
        DatasetError,
        "key 'rewards' has 7 rows, expected 11 like 'observations'",
    ),
    "nan obs": (
        _with(observations=_nan_at("observations", 4)),
        {},
        DatasetError,
        "key 'observations' holds NaN or inf, first at row 4",
    ),
    "inf reward": (
        _with(rewards=_nan_at("rewards", 9, np.inf)),
        {},
        DatasetError,
        "key 'rewards' holds NaN or inf, first at row 9",
    ),
    "nan next obs": (
        _with(next_observations=_nan_at("next_observations", 2)),
        {},
        DatasetError,
        "key 'next_observations' holds NaN or inf, first at row 2",
    ),
    "nan action": (
        _with(actions=_nan_at("actions", 0)),
        {},
        DatasetError,
        "key 'actions' holds NaN or inf, first at row 0",
    ),
    "obs dim": (
        _data(),
        {"obs_dim": 11},
        DatasetError,
        "observations has 3 features, the task's env expects 11",
    ),
    "action dim": (
        _data(),
        {"action_dim": 6},
        DatasetError,
        "actions has 2 features, the task's env expects 6",
    ),
    "action range": (
        _with(actions=_nan_at("actions", 5, 1.5)),
        {},
        DatasetError,
        "key 'actions' leaves \\[-1, 1\\].*row 5",
    ),
    "flags": (
        _with(terminals=np.full(11, 0.5)),
        {},
        DatasetError,
        "key 'terminals' must hold booleans or 0/1.*row 0",
    ),
    "obs rank": (
        _with(observations=np.zeros(11), next_observations=None),
        {},
        DatasetError,
        "key 'observations' has shape \\(11,\\)",
    ),
    "empty": ({key: value[:0] for key, value in _data().items()}, {}, DatasetError, "empty"),
    "all timeouts": (
        _with(timeouts=np.ones(11, bool), terminals=np.zeros(11, bool)),
        {},
        DatasetError,
        "no transitions left",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_names_file_and_key(tmp_path, case):
    data, kwargs, error, message = BAD_FILES[case]
    path = _write_raw(tmp_path / "bad.hdf5", data)
    with pytest.raises(error, match=re.escape(str(path)) + ".*" + message):
        load_d4rl_hdf5(path, DatasetSpec(**kwargs))


def _float64_with(key, index, value):
    """``_data()`` with ``key`` as float64 and ``value`` at ``index``."""
    array = _data()[key].astype(np.float64)
    array[index] = value
    return _with(**{key: array})


@pytest.mark.parametrize(
    "key, index, value",
    [
        ("rewards", (9,), 1e39),
        ("observations", (4, 2), 1e39),
        ("next_observations", (2, 0), -1e39),
        ("actions", (5, 1), 1e39),
    ],
)
def test_values_finite_in_float64_but_inf_in_float32_are_refused(tmp_path, key, index, value):
    path = _write_raw(tmp_path / "overflow.hdf5", _float64_with(key, index, value))
    shown = "inf" if value > 0 else "-inf"
    message = (
        f"{path}: key '{key}' holds NaN or inf, first at row {index[0]} (index {index}, value "
        f"{shown}; 1 rows affected); it is {value} in float64, finite before the float32 cast"
    )
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_d4rl_hdf5(path)


@pytest.mark.parametrize(
    "key, index, value, shown",
    [("observations", (4, 1), np.nan, "nan"), ("actions", (3, 1), np.inf, "inf")],
)
def test_nan_and_inf_name_file_key_index_and_value(tmp_path, key, index, value, shown):
    path = _write_raw(tmp_path / "bad.hdf5", _float64_with(key, index, value))
    message = (
        f"{path}: key '{key}' holds NaN or inf, first at row {index[0]} (index {index}, value "
        f"{shown}; 1 rows affected)"
    )
    with pytest.raises(DatasetError, match=re.escape(message) + "$"):
        load_d4rl_hdf5(path)


def test_rewards_overflowing_float32_after_scaling_are_refused(tmp_path):
    data = _data()
    data["rewards"][6] = 1e38  # finite in float32, 1e39 once scaled
    path = write_d4rl_hdf5(tmp_path / "set.hdf5", data)
    scaled = re.escape("key 'rewards (scaled: r * 10 + 0)'")
    with pytest.raises(DatasetError, match=scaled + ".*row 6.*finite before the float32 cast"):
        load_d4rl_hdf5(path, DatasetSpec(reward_scale=10.0))


def test_writer_refuses_values_that_overflow_float32(tmp_path):
    rewards = _data()["rewards"].astype(np.float64)
    rewards[3] = 1e39
    with pytest.raises(DatasetError, match="key 'rewards'.*row 3.*finite before the float32 cast"):
        write_d4rl_hdf5(tmp_path / "set.hdf5", {**_data(), "rewards": rewards})
    assert list(tmp_path.iterdir()) == []


def _flat_episodes(num_rows, ends):
    """``_data``-like rows with episode ends only at ``ends`` (timeouts), no next_observations."""
    rng = np.random.default_rng(0)
    timeouts = np.zeros(num_rows, bool)
    timeouts[list(ends)] = True
    return {
        "observations": rng.normal(size=(num_rows, OBS_DIM)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (num_rows, ACT_DIM)).astype(np.float32),
        "rewards": rng.normal(size=num_rows).astype(np.float32),
        "terminals": np.zeros(num_rows, bool),
        "timeouts": timeouts,
    }


def test_file_without_episode_ends_is_refused_against_the_episode_limit(tmp_path):
    data = _flat_episodes(5000, ends=[])
    path = _write_raw(tmp_path / "no_ends.hdf5", data)
    message = (
        f"{re.escape(str(path))}: the episode starting at row 0 has 5000 steps, more than the "
        "task's limit of 1000 \(max_episode_steps.*'timeouts'"
    )
    with pytest.raises(DatasetError, match=message):
        load_d4rl_hdf5(path, DatasetSpec(max_episode_steps=1000))
    assert len(load_d4rl_hdf5(path)) == 4999  # not checked without a limit


def test_episodes_at_the_limit_pass_and_a_longer_one_is_named(tmp_path):
    # episodes of 1000 and 1000 steps, then 1001 (the file's last row ends it)
    at_limit = _write_raw(tmp_path / "at_limit.hdf5", _flat_episodes(2000, ends=[999, 1999]))
    assert len(load_d4rl_hdf5(at_limit, DatasetSpec(max_episode_steps=1000))) == 1998

    too_long = _write_raw(tmp_path / "too_long.hdf5", _flat_episodes(3001, ends=[999, 1999]))
    with pytest.raises(
        DatasetError, match="episode starting at row 2000 has 1001 steps.*limit of 1000"
    ):
        load_d4rl_hdf5(too_long, DatasetSpec(max_episode_steps=1000))


def test_content_errors_are_value_errors(tmp_path):
    path = _write_raw(tmp_path / "bad.hdf5", _with(actions=None))
    with pytest.raises(ValueError):
        load_d4rl_hdf5(path)


def test_missing_file_and_not_hdf5(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.hdf5"))):
        load_d4rl_hdf5(tmp_path / "nope.hdf5")
    text = tmp_path / "text.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(
        DatasetError, match=re.escape(str(text)) + ".*cannot be opened as an HDF5 file"
    ):
        load_d4rl_hdf5(text)
